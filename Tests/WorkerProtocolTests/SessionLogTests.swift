import Testing
import StoreFormats
@testable import WorkerProtocol

/// The session's log filters every message by the verbosity the client set, in its dialect's
/// scale (Nix 2.8: error 0 … info 3 … debug 6; guix-daemon: error 0, info 1 … debug 4), and
/// errors are worded in the dialect's words: Nix 2.8 quotes 'x', guix-daemon `x'.
@Suite(.tags(.medium)) struct SessionLogTests {
    func lines(_ messages: [StderrMessage]) -> [String] {
        messages.compactMap { if case .next(let bytes) = $0 { String(decoding: bytes, as: UTF8.self) } else { nil } }
    }

    @Test func levelsInEachDialectsScale() {
        #expect(Verbosity.info.number(in: .nix) == 3 && Verbosity.info.number(in: .guix) == 1)
        #expect(Verbosity.warn.number(in: .guix) == 0 && Verbosity.debug.number(in: .guix) == 4)
        var sent: [StderrMessage] = []
        let guix = ActivityLog(dialect: .guix, receivesActivities: false, idBase: 0) { sent.append($0) }
        #expect(guix.verbosity == 1)
        try? guix.log(.talkative, "hidden")
        try? guix.log(.info, "shown")
        guix.apply(ClientOptions(integers: [0, 0, 0, 2, 0, 3, 0, 1, 1]))
        try? guix.log(.talkative, "talkative")
        // Builder output: only while verbosity >= buildVerbosity (here 2 < 3).
        try? guix.builderOutput(Array("out\n".utf8))
        #expect(lines(sent) == ["shown\n", "talkative\n"])
    }

    /// A line the client's verbosity excludes is never formatted, and `includes` answers
    /// what `log` will do (Nix: talkative is 4, so `-v` — verbosity 4 — sees it, info 3 not).
    @Test func excludedLinesAreNeverFormatted() throws {
        var sent: [StderrMessage] = []
        let nix = ActivityLog(dialect: .nix, receivesActivities: true, idBase: 0) { sent.append($0) }
        var formatted = 0
        func line(_ text: String) -> String { formatted += 1; return text }
        #expect(nix.includes(.info) && !nix.includes(.talkative))
        try nix.log(.talkative, line("hidden"))
        #expect(formatted == 0 && sent.isEmpty)
        nix.apply(ClientOptions(integers: [0, 0, 0, Verbosity.talkative.rawValue, 0, 3, 0, 1, 1]))
        #expect(nix.includes(.talkative) && !nix.includes(.chatty))
        try nix.log(.talkative, line("checking contents of 'x'"))
        try nix.log(.chatty, line("chatty"))
        #expect(formatted == 1)
        #expect(lines(sent) == ["checking contents of 'x'\n"])
    }

    /// Nix 2.8 notes a refused setting at debug level and an untrusted substituter as a warning
    /// (daemon.cc ClientSettings::apply), after taking the client's new verbosity.
    @Test func settingNotesAtNixLevels() throws {
        let service = MemoryStoreService(storeDirectory: .nix)
        _ = try withSession(service: service, client: ClientIdentity(uid: 1000, trusted: false)) { stream in
            let c = try WorkerClient(stream: stream, storeDirectory: .nix, options: .nixDefault())
            var messages: [StderrMessage] = []
            c.onLog = { messages.append($0) }
            var options = ClientOptions.nixDefault()
            options.integers[3] = Verbosity.error.rawValue
            options.overrides = [.init("substituters", "http://evil"), .init("sandbox", "false")]
            try c.call(.setOptions(options))
            #expect(lines(messages) == [])
            options.integers[3] = Verbosity.info.rawValue
            try c.call(.setOptions(options))
            let warning = "\u{1b}[35;1mwarning:\u{1b}[0m ignoring untrusted substituter 'http://evil'\n"
            #expect(lines(messages) == [warning])
            options.integers[3] = Verbosity.debug.rawValue
            try c.call(.setOptions(options))
            #expect(lines(messages) == [warning, "ignoring the client-specified setting 'sandbox', because it is a restricted setting and you are not a trusted user\n", warning])
        }
        let (kept, notes) = TrustPolicy.substituters("https://a.example https://b.example/ http://evil", daemon: ["https://a.example/", "https://b.example/"])
        #expect(kept == ["https://a.example/", "https://b.example/"] && notes == [.untrustedSubstituter("http://evil")])
    }

    /// guix-daemon announces an export at lvlInfo, 1 in its scale.
    @Test func guixExportLineAtGuixInfo() throws {
        let service = MemoryStoreService(storeDirectory: .guix)
        _ = try withSession(service: service, store: .guix) { stream in
            let c = try WorkerClient(stream: stream, version: .guix, storeDirectory: .guix, options: .guixDefault)
            let path = try c.addTextToStore(name: "exported", text: Array("x".utf8))
            var messages: [StderrMessage] = []
            c.onLog = { messages.append($0) }
            try c.call(.exportPath(path, sign: false), dataSink: BufferSink())
            #expect(lines(messages) == [])
            var options = ClientOptions.guixDefault
            options.integers[3] = 1
            try c.call(.setOptions(options))
            try c.call(.exportPath(path, sign: false), dataSink: BufferSink())
            #expect(lines(messages) == ["exporting path `\(StoreContext.guix.render(path))'\n"])
        }
    }

    /// Sends IsValidPath with raw `text` and returns the error frame's message.
    func errorForPath(_ c: WorkerClient, _ text: String) throws -> String? {
        try c.writer.writeU64(Opcode.isValidPath.rawValue)
        try c.writer.writeString(text)
        try c.writer.flush()
        do { _ = try StderrMessage.decodeUntilLast(c) } catch WorkerProtocolError.remote(let message, _) { return message }
        return nil
    }

    @Test func guixErrorsInGuixWords() throws {
        let service = MemoryStoreService(storeDirectory: .guix)
        _ = try withSession(service: service, client: ClientIdentity(uid: 1000, trusted: false), store: .guix) { stream in
            let c = try WorkerClient(stream: stream, version: .guix, storeDirectory: .guix, options: .guixDefault)
            let missing = try StorePath(baseName: "00000000000000000000000000000000-x")
            #expect(throws: WorkerProtocolError.remote(message: "path `\(StoreContext.guix.render(missing))' is not valid", status: 1)) {
                try c.queryPathInfo(missing)
            }
            #expect(throws: WorkerProtocolError.remote(message: "repairing is a privileged operation", status: 1)) {
                try c.call(.buildPaths([], mode: 1))
            }
            // guix-daemon checks IsValidPath's argument after starting work: the session goes on.
            #expect(try errorForPath(c, "/tmp/x") == "path `/tmp/x' is not in the store")
            #expect(try errorForPath(c, "/gnu/store/00000000000000000000000000000000-x/bin") == "path `/gnu/store/00000000000000000000000000000000-x/bin' is not in the store")
        }
    }

    @Test func nixErrorsInNixWords() throws {
        let service = MemoryStoreService(storeDirectory: .nix)
        _ = try withSession(service: service, client: ClientIdentity(uid: 1000, trusted: false)) { stream in
            let c = try WorkerClient(stream: stream, storeDirectory: .nix, options: .nixDefault())
            #expect(throws: WorkerProtocolError.remote(message: "repairing is not allowed because you are not in 'trusted-users'", status: 1)) {
                try c.call(.buildPaths([], mode: 1))
            }
            // A request Nix cannot read ends the session.
            #expect(try errorForPath(c, "/tmp/x") == "path '\(magenta)/tmp/x\(normal)' is not in the Nix store")
        }
    }

    @Test func storeErrorsWordedPerStyle() {
        let path = "/gnu/store/00000000000000000000000000000000-x"
        #expect(StoreServiceError(.invalidPath(path)).message(.guix) == "path `\(path)' is not valid")
        // Nix 2.8 colours its errors' arguments (hintfmt); its client drops the colours off a terminal.
        #expect(StoreServiceError(.invalidPath(path)).message(.nix) == "path '\(magenta)\(path)\(normal)' is not valid")
        let hash = Hasher.hash(.sha256, [])
        #expect(StoreServiceError(.contentsChanged(path, recorded: hash, actual: hash)).message(.guix)
                == "hash of path `\(path)' has changed from `\(hash.base16)' to `\(hash.base16)'!")
        #expect(StoreServiceError(.contentsChanged(path, recorded: hash, actual: hash)).message(.nix)
                == "hash of path '\(magenta)\(path)\(normal)' has changed from '\(magenta)sha256:\(hash.nix32)\(normal)' to '\(magenta)sha256:\(hash.nix32)\(normal)'!")
        let error = WorkerProtocolError.format(.notInStore("/tmp/y", storeDirectory: "/gnu/store"))
        #expect(ErrorFrame.report(for: error, .guix).message == "path `/tmp/y' is not in the store")
        #expect(ErrorFrame.report(for: error, .nix).message == "path '\(magenta)/tmp/y\(normal)' is not in the Nix store")
    }

    let magenta = "\u{1b}[35;1m", normal = "\u{1b}[0m"
}
