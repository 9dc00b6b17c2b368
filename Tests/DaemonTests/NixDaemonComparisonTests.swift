import Testing
import Foundation
import Glibc

/// The proof the issue asks for: one session of Debian's Nix 2.8 client (`nix-store`,
/// `nix-instantiate`, `nix path-info`) run step by step against Cloister's daemon and against
/// Debian's own `nix-daemon`, each on a private store, with the same inputs; every step must
/// come out the same on both — exit status, standard output and standard error. The two store
/// directories have the same length but differ, so store paths (and the hashes in them) are
/// compared by name (`<store>/<hash>-<name>` becomes `STORE/<name>`), and lines are compared as
/// sorted lists (both daemons sort paths by their hash parts, which differ).
@Suite(.serialized, .tags(.large),
       .enabled(if: ReferenceNixDaemon.available && FileManager.default.isExecutableFile(atPath: "/usr/bin/nix-store")))
final class NixDaemonComparisonTests {
    let cloister: TemporaryDaemon
    let nix: ReferenceNixDaemon
    let inputs: String

    /// One daemon as the client reaches it.
    struct Side {
        let label: String
        let root: String
        let store: String
        let environment: [String: String]
    }
    let sides: [Side]

    /// A step's result, normalised.
    struct Outcome: Equatable, CustomStringConvertible {
        var status: Int32
        var out: [String]
        var err: [String]
        var description: String { "status \(status)\n  stdout: \(out)\n  stderr: \(err)" }
    }

    init() throws {
        // nix-daemon deduplicates only on `--optimise` (auto-optimise-store is off by default);
        // guix-daemon, and so Cloister, at every add unless told not to: compare like with like.
        cloister = try TemporaryDaemon(label: "cmp", arguments: ["--disable-deduplication"])
        // The same length as Cloister's root, so both store paths, and the .drv files and NARs
        // that contain them, have the same sizes.
        nix = try ReferenceNixDaemon(root: String(cloister.root.dropLast()) + (cloister.root.hasSuffix("n") ? "m" : "n"))
        inputs = cloister.root + "-inputs"
        for tree in ["tree", "tree2"] {
            try FileManager.default.createDirectory(atPath: inputs + "/\(tree)/sub", withIntermediateDirectories: true)
            // Above guix-daemon's deduplication threshold (8 KiB, regular files only; nix-daemon
            // links every file and symlink), so `--optimise` has the same work on both.
            try String(repeating: "a", count: 20_000).write(toFile: inputs + "/\(tree)/sub/a", atomically: true, encoding: .utf8)
        }
        try "hello\n".write(toFile: inputs + "/hello.txt", atomically: true, encoding: .utf8)
        try "keep\n".write(toFile: inputs + "/keep.txt", atomically: true, encoding: .utf8)
        try "moved\n".write(toFile: inputs + "/moved.txt", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: inputs + "/tree/l", withDestinationPath: "sub/a")
        try """
            derivation { name = "d"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo ${builtins.toFile "in.txt" "x"}" ]; }
            """.write(toFile: inputs + "/d.nix", atomically: true, encoding: .utf8)
        func side(_ label: String, root: String, socket: String) throws -> Side {
            let home = root + "-client"
            try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
            try "substituters =\nsandbox = false\n".write(toFile: home + "/nix.conf", atomically: true, encoding: .utf8)
            var env = ProcessInfo.processInfo.environment
            env.removeValue(forKey: "GUIX_DAEMON_SOCKET")
            env["NIX_REMOTE"] = "unix://" + socket
            env["NIX_STORE_DIR"] = root + "/store"
            env["NIX_CONF_DIR"] = home
            env["NIX_USER_CONF_FILES"] = ""
            env["NIX_STATE_DIR"] = home + "/state"
            env["HOME"] = home
            return Side(label: label, root: root, store: root + "/store", environment: env)
        }
        sides = [try side("cloister", root: cloister.root, socket: cloister.socket), try side("nix-daemon", root: nix.root, socket: nix.socket)]
    }

    deinit {
        for side in sides { try? FileManager.default.removeItem(atPath: side.root + "-client") }
        try? FileManager.default.removeItem(atPath: inputs)
    }

    /// Runs `arguments` (with `$STORE`/`$ROOT`-style placeholders filled per side) on one side.
    func run(_ side: Side, _ arguments: [String], stdin: Data? = nil) throws -> (status: Int32, out: Data, err: Data) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = arguments.map { $0.replacingOccurrences(of: "@ROOT@", with: side.root) }
        p.environment = side.environment
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = stdin == nil ? FileHandle(forReadingAtPath: "/dev/null") : nil
        let input = stdin.map { _ in Pipe() }
        if let input { p.standardInput = input }
        try p.run()
        if let input, let stdin {
            input.fileHandleForWriting.write(stdin)
            try input.fileHandleForWriting.close()
        }
        // Standard error on a thread of its own, so neither pipe fills while the other is read.
        final class Box: @unchecked Sendable { var data = Data() }
        let errors = Box()
        let reader = Thread { errors.data = err.fileHandleForReading.readDataToEndOfFile() }
        reader.start()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        while !reader.isFinished { usleep(1000) }
        return (p.terminationStatus, output, errors.data)
    }

    /// Store paths by name, the side's directories by a placeholder, lines sorted.
    func normalise(_ data: Data, _ side: Side) -> [String] {
        var text = String(decoding: data, as: UTF8.self)
        if let pattern = try? NSRegularExpression(pattern: NSRegularExpression.escapedPattern(for: side.store) + "/[0-9a-df-np-sv-z]{32}-") {
            text = pattern.stringByReplacingMatches(in: text, range: NSRange(text.startIndex..., in: text), withTemplate: "STORE/")
        }
        text = text.replacingOccurrences(of: side.root, with: "ROOT")
        // Registration times are the clock's, not the daemon's to match.
        if let time = try? NSRegularExpression(pattern: #""registrationTime":[0-9]+"#) {
            text = time.stringByReplacingMatches(in: text, range: NSRange(text.startIndex..., in: text), withTemplate: #""registrationTime":T"#)
        }
        return text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init).sorted()
    }

    /// Runs one step on both sides — `arguments`, then on side i the lines of `paths[i]` (a
    /// path that differs per side) — and expects the same outcome; returns the raw stdouts.
    @discardableResult
    func step(_ arguments: [String], _ paths: [String]? = nil, stdin: [Data]? = nil,
              sourceLocation: SourceLocation = #_sourceLocation) throws -> [String] {
        var outcomes: [Outcome] = [], raw: [String] = []
        for (index, side) in sides.enumerated() {
            let extra = paths.map { $0[index].split(separator: "\n").map(String.init) } ?? []
            let r = try run(side, arguments + extra, stdin: stdin?[index])
            outcomes.append(Outcome(status: r.status, out: normalise(r.out, side), err: normalise(r.err, side)))
            raw.append(String(decoding: r.out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let shown = (arguments + (paths == nil ? [] : ["PATH"])).joined(separator: " ")
        #expect(outcomes[0] == outcomes[1], "\(shown):\ncloister \(outcomes[0])\nnix-daemon \(outcomes[1])", sourceLocation: sourceLocation)
        return raw
    }

    @Test func aClientSessionComesOutTheSame() throws {
        let hello = try step(["nix-store", "--add", inputs + "/hello.txt"])
        let fixed = try step(["nix-store", "--add-fixed", "sha256", inputs + "/hello.txt"])
        try step(["nix-store", "--add-fixed", "--recursive", "sha1", inputs + "/tree2"])
        let tree = try step(["nix-store", "--add", inputs + "/tree"])
        for query in ["--references", "--referrers", "--requisites", "--hash", "--size", "--deriver"] {
            try step(["nix-store", "-q", query], hello)
            try step(["nix-store", "-q", query], tree)
        }
        let drv = try step(["nix-instantiate", inputs + "/d.nix"])
        for query in ["--references", "--requisites", "--size", "--deriver", "--outputs"] {
            try step(["nix-store", "-q", query], drv)
        }
        let input = try step(["nix-store", "-q", "--references"], drv)
        try step(["nix-store", "-q", "--referrers"], input)
        try step(["nix-store", "--check-validity"], hello)
        try step(["nix-store", "--check-validity", "@ROOT@/store/00000000000000000000000000000000-x"])
        try step(["nix-store", "--check-validity", "/elsewhere/x"])
        try step(["nix-store", "-q", "--hash", "@ROOT@/store/00000000000000000000000000000000-x"])
        try step(["nix-store", "-q", "--references", "@ROOT@/store/00000000000000000000000000000000-x"])
        try step(["nix-store", "--dump", "@ROOT@/store/00000000000000000000000000000000-x"])
        try step(["nix-store", "-q", "--tree"], drv)
        try step(["nix-store", "-q", "--referrers-closure"], input)
        try step(["nix-store", "--dump"], hello)
        let nix = ["nix", "--extra-experimental-features", "nix-command"]
        try step(nix + ["path-info", "--json"], hello)
        try step(nix + ["path-info", "--json"], tree)
        try step(nix + ["path-info", "--json"], drv)
        try step(nix + ["path-info", "-sS", "--all"])
        try step(nix + ["store", "ls", "-lR"], tree)
        try step(nix + ["store", "verify", "--all"])
        try step(["nix-store", "--verify-path"], hello)
        try step(["nix-store", "--dump"], tree)

        // Export, then import into the same store (already valid: the client says so, the daemon skips it).
        var archives: [Data] = []
        for (index, side) in sides.enumerated() {
            let r = try run(side, ["nix-store", "--export", hello[index]])
            #expect(r.status == 0)
            archives.append(r.out)
        }
        #expect(archives[0].count == archives[1].count, "the same NAR and trailer, paths of the same length")
        try step(["nix-store", "--import"], stdin: archives)
        // Into a store that lacks the path: Nix records no content-address claim for an import.
        let moved = try step(["nix-store", "--add", inputs + "/moved.txt"])
        var movedArchives: [Data] = []
        for (index, side) in sides.enumerated() { movedArchives.append(try run(side, ["nix-store", "--export", moved[index]]).out) }
        try step(["nix-store", "--delete"], moved)
        try step(["nix-store", "--import"], stdin: movedArchives)
        try step(["nix", "--extra-experimental-features", "nix-command", "path-info", "--json"], moved)

        // Roots, liveness, deletion.
        let keep = try step(["nix-store", "--add", inputs + "/keep.txt"])
        try step(["nix-store", "--add-root", "@ROOT@-client/keep-link", "--indirect", "-r"], keep)
        try step(["nix-store", "-q", "--roots"], keep)
        try step(["nix-store", "--gc", "--print-roots"])
        try step(["nix-store", "--gc", "--print-dead"])
        try step(["nix-store", "--gc", "--print-live"])
        try step(["nix-store", "--delete"], keep)
        try step(["nix-store", "--delete"], fixed)
        try step(["nix-store", "--delete"], fixed)  // gone already
        // A leftover of an interrupted add: not valid, but on disk.
        for side in sides {
            try FileManager.default.createDirectory(atPath: side.store + "/00000000000000000000000000000000-leftover/sub", withIntermediateDirectories: true)
        }
        try step(["nix-store", "--delete", "@ROOT@/store/00000000000000000000000000000000-leftover"])
        try step(["nix-store", "--verify", "--check-contents"])
        try step(["nix-store", "--optimise"])
        try step(["nix", "--extra-experimental-features", "nix-command", "path-info", "--all"])
        try step(["nix-store", "--gc"])
        try step(["nix", "--extra-experimental-features", "nix-command", "path-info", "--all"])
    }
}
