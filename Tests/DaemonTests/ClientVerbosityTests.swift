import Testing
import Foundation
import Glibc
import StoreFormats
import WorkerProtocol

/// What the daemon process tells a client depends on the client: its messages reach it only
/// within the verbosity it set (Nix 2.8's GC, verify and optimise lines are all info, 3 in Nix's
/// scale; the Nix golden transcripts were captured at 3), and its errors come in its daemon's
/// words (guix-daemon quotes `x', Nix 2.8 'x').
@Suite(.serialized, .tags(.large)) final class ClientVerbosityTests {
    let scratch: TemporaryDaemon
    let store: StoreDirectory

    init() throws {
        scratch = try TemporaryDaemon(label: "verbosity")
        store = try StoreDirectory(scratch.root + "/store")
    }

    func client(_ version: ProtocolVersion = .nix28, verbosity: UInt64) throws -> WorkerClient {
        try scratch.client(version, verbosity: verbosity)
    }

    /// The log lines `request` brings, and whether an activity came too.
    func lines(_ c: WorkerClient, _ request: WorkerRequest) throws -> (lines: [String], activities: Bool) {
        var lines: [String] = [], activities = false
        c.onLog = {
            switch $0 {
            case .next(let bytes): lines.append(String(decoding: bytes, as: UTF8.self))
            case .startActivity: activities = true
            default: break
            }
        }
        try c.call(request)
        return (lines, activities)
    }

    @Test(arguments: [0, 3] as [UInt64])
    func maintenanceLinesWithinVerbosity(verbosity: UInt64) throws {
        let c = try client(verbosity: verbosity)
        let shown = verbosity >= 3
        let gc = try lines(c, .collectGarbage(action: 1, paths: [], ignoreLiveness: false, maxFreed: 0))
        #expect(gc.lines == (shown ? ["finding garbage collector roots...\n", "determining live/dead paths...\n"] : []))
        let verify = try lines(c, .verifyStore(checkContents: false, repair: false))
        #expect(verify.lines == (shown ? ["reading the Nix store...\n", "checking path existence...\n"] : []))
        // The optimiseStore activity goes to a 1.34 client whatever its verbosity; the total is info.
        let optimise = try lines(c, .optimiseStore)
        #expect(optimise.activities)
        #expect(optimise.lines.count == (shown ? 1 : 0))
        #expect(optimise.lines.allSatisfy { $0.contains(" MiB freed by hard-linking ") })
    }

    /// A valid path gone from disk: Nix 2.8 says so at info, guix-daemon at lvlError, each after
    /// its own phase lines and in its own quotes.
    @Test func verifyFindingsAtEachDaemonsLevel() throws {
        let adder = try client(verbosity: 0)
        /// A new valid path, removed from disk (each verify invalidates the one it finds).
        func gonePath(_ name: String) throws -> String {
            let path = try adder.addTextToStore(name: name, text: Array("\(name)\n".utf8)).absolute(in: store)
            #expect(unlink(path) == 0)
            return path
        }
        let first = try gonePath("gone-guix")
        let guix = try lines(try client(.guix, verbosity: 0), .verifyStore(checkContents: false, repair: false))
        #expect(guix.lines == ["reading the store...\n", "path `\(first)' disappeared, removing from database...\n"])
        _ = try gonePath("gone-quiet")
        let quiet = try lines(try client(verbosity: 0), .verifyStore(checkContents: false, repair: false))
        #expect(quiet.lines == [])
        let third = try gonePath("gone-nix")
        let nix = try lines(try client(verbosity: 3), .verifyStore(checkContents: true, repair: false))
        #expect(nix.lines == ["reading the Nix store...\n", "checking path existence...\n",
                              "path '\(third)' disappeared, removing from database...\n",
                              "checking link hashes...\n", "checking store hashes...\n"])
        let guixInfo = try lines(try client(.guix, verbosity: 1), .verifyStore(checkContents: true, repair: false))
        #expect(guixInfo.lines == ["reading the store...\n", "checking path existence...\n", "checking hashes...\n"])
    }

    /// guix-daemon's collection lines: the phase lines at lvlError, each deletion with what
    /// was freed before it at lvlInfo, then the trash and `.links` lines.
    @Test(arguments: [0, 1] as [UInt64])
    func guixCollectionLines(verbosity: UInt64) throws {
        var doomed: [StorePath] = []
        do {
            // Added in a session of their own, which ends: its temp roots go with its worker.
            let adder = try client(verbosity: 0)
            for name in ["guix-gc-a", "guix-gc-b"] { doomed.append(try adder.addTextToStore(name: name + "-\(verbosity)", text: Array(name.utf8))) }
        }
        let guix = try client(.guix, verbosity: verbosity)
        var gc: (lines: [String], activities: Bool) = ([], false)
        for _ in 0..<250 {
            do {
                gc = try lines(guix, .collectGarbage(action: 3, paths: doomed, ignoreLiveness: false, maxFreed: UInt64(Int64.max)))
                break
            } catch WorkerProtocolError.remote(let message, _) where message.contains("still alive") {
                usleep(20_000)  // the adder's worker has not exited yet
            }
        }
        let head = "finding garbage collector roots...\n"
        if verbosity == 0 {
            #expect(gc.lines == [head, "deleting unused links...\n"])
            return
        }
        try #require(gc.lines.count == 6, "\(gc.lines)")
        #expect(gc.lines[0] == head)
        // Guix's default limit (2^63 - 1) is no limit: progress in MiB, each path only a few bytes.
        let deleted = Set(doomed.map { "[0 MiB] deleting '\($0.absolute(in: store))'\n" })
        #expect(Set(gc.lines[1...2]) == deleted)
        #expect(gc.lines[3] == "deleting `\(store.path)/trash'\n")
        #expect(gc.lines[4] == "deleting unused links...\n")
        #expect(gc.lines[5].hasPrefix("note: currently hard linking saves ") && gc.lines[5].hasSuffix(" MiB\n"))
    }

    @Test func stillAliveInEachDaemonsWords() throws {
        let nix = try client(verbosity: 0)
        let kept = try nix.addTextToStore(name: "kept", text: Array("kept\n".utf8))
        try nix.call(.addTempRoot(kept))
        let absolute = kept.absolute(in: store)
        #expect(throws: WorkerProtocolError.remote(
            message: "Cannot delete path '\u{1b}[35;1m\(absolute)\u{1b}[0m' since it is still alive. To find out why, use: nix-store --query --roots",
            status: 1)) {
            try nix.call(.collectGarbage(action: 3, paths: [kept], ignoreLiveness: false, maxFreed: 0))
        }
        let guix = try client(.guix, verbosity: 0)
        #expect(throws: WorkerProtocolError.remote(message: "cannot delete path `\(absolute)' since it is still alive", status: 1)) {
            try guix.call(.collectGarbage(action: 3, paths: [kept], ignoreLiveness: false, maxFreed: 0))
        }
        // Nor a path outside the store, said as guix-daemon's assertStorePath does.
        try guix.writer.writeU64(Opcode.isValidPath.rawValue)
        try guix.writer.writeString("/tmp/elsewhere")
        try guix.writer.flush()
        #expect(throws: WorkerProtocolError.remote(message: "path `/tmp/elsewhere' is not in the store", status: 1)) {
            while true { if case .error(let r) = try StderrMessage.decode(from: guix.reader, guix.negotiated) { throw WorkerProtocolError.remote(message: r.message, status: r.status) } }
        }
    }
}
