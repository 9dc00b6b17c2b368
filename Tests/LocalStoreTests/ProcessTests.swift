import Testing
import Glibc
import StoreFormats
import LinuxSystem
@testable import LocalStore

/// The worker executable built beside the tests (Tests/LocalStoreWorker).
enum Worker {
    static var path: String? {
        var dir = #filePath
        while !dir.isEmpty && access(dir + "/Package.swift", F_OK) != 0 {
            dir = String(dir[..<(dir.lastIndex(of: "/") ?? dir.startIndex)])
        }
        let path = dir + "/.build/debug/cloister-store-worker"
        return access(path, X_OK) == 0 ? path : nil
    }

    /// Starts the worker with the store's environment; stdout goes to `output` if given.
    static func spawn(_ args: [String], store: TestStore, output: String? = nil) throws -> pid_t {
        let argv = [path ?? "cloister-store-worker"] + args
        let env = store.environment.map { "\($0.key)=\($0.value)" } + ["PATH=/usr/bin:/bin"]
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let output { posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644) }
        var cArgs = argv.map { strdup($0) } + [nil]
        var cEnv = env.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) }; cEnv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, nil, &cArgs, &cEnv)
        guard rc == 0 else { throw TestFailure("posix_spawn: \(rc)") }
        return pid
    }

    /// `/bin/sh -c command`.
    static func spawnShell(_ command: String) throws -> pid_t {
        let argv: [String] = ["/bin/sh", "-c", command]
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/bin/sh", nil, nil, &cArgs, environ)
        guard rc == 0 else { throw TestFailure("posix_spawn: \(rc)") }
        return pid
    }

    static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return status
    }
}

@Suite(.tags(.large), .serialized, .enabled(if: Worker.path != nil)) struct ProcessTests {
    @Test func twoProcessesAddTheSamePathAtOnce() throws {
        let t = try TestStore()
        _ = try t.open()  // create the store first so both workers only open it
        var w = NARWriter(sink: [UInt8]())
        try w.beginDirectory()
        for i in 0..<8 {
            try w.beginEntry(name: Array("file\(i)".utf8))
            let bytes = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* (i + 7)) }
            try w.beginRegularFile(executable: false, size: UInt64(bytes.count))
            try bytes.withUnsafeBytes { try w.contents($0) }
            try w.endRegularFile(); try w.endEntry()
        }
        try w.endDirectory()
        let narFile = t.root + "/input.nar"
        let fd = try FileDescriptor.open(narFile, [.writeOnly, .create])
        try fd.writeAll(w.sink)
        try fd.close()

        let a = try Worker.spawn(["add-nar", "same", narFile], store: t, output: t.root + "/a.out")
        let b = try Worker.spawn(["add-nar", "same", narFile], store: t, output: t.root + "/b.out")
        #expect(Worker.wait(a) == 0)
        #expect(Worker.wait(b) == 0)
        let outA = shell("cat '\(t.root)/a.out'"), outB = shell("cat '\(t.root)/b.out'")
        #expect(outA == outB && outA?.isEmpty == false)
        let store = try t.open()
        let path = try store.parseStorePath(String((outA ?? "").dropLast()))
        #expect(try store.queryPathInfo(path)?.narHash == Hasher.hash(.sha256, w.sink))
        #expect(try store.verifyStore(checkContents: true, repair: false).problems.isEmpty)
        // One copy, no leftovers: the path, its (stale-marked) lock gone, .links.
        #expect(shell("ls -A '\(t.root)/store'") == ".links\n\(path.baseName)\n")
    }

    /// SIGKILL a process that adds, registers and collects, at random moments; afterwards every
    /// valid path is complete (its NAR hash matches the database) and nothing registered is
    /// missing.
    @Test func crashSafetyUnderSIGKILL() throws {
        let t = try TestStore()
        _ = try t.open()
        var random = SystemRandomNumberGenerator()
        var checked = 0
        for i in 0..<200 {
            let pid = try Worker.spawn(["churn", "\(i + 1)"], store: t)
            usleep(UInt32.random(in: 2_000...60_000, using: &random))
            kill(pid, SIGKILL)
            _ = Worker.wait(pid)
            let store = try t.open()
            let result = try store.verifyStore(checkContents: true, repair: false)
            #expect(result.problems.isEmpty, "round \(i): \(result.problems)")
            checked += try store.queryAllValidPaths().count
            if !result.problems.isEmpty { break }
        }
        #expect(checked > 0)  // the workers did get to register something
    }

    /// A store on a small tmpfs: an add that does not fit fails with a clear error and leaves
    /// neither a valid path nor stray files.
    @Test(.enabled(if: geteuid() == 0)) func diskFull() throws {
        let t = try TestStore()
        shell("mkdir -p '\(t.root)/store'")
        guard shell("mount -t tmpfs -o size=1m tmpfs '\(t.root)/store' 2>/dev/null && echo ok") == "ok\n" else { return }
        defer { shell("umount '\(t.root)/store'") }
        let store = try t.open()
        let big = [UInt8](repeating: 0x5A, count: 3 << 20)
        let nar = NAR.regularFile(Array(big.prefix(1 << 20)) + big)
        do {
            _ = try store.addToStore(nar: ByteArraySource(nar), name: "big", method: .recursive)
            Issue.record("adding 4 MiB to a 1 MiB store succeeded")
        } catch {
            #expect(error.description.contains("no space left on device"))
        }
        #expect(try store.queryAllValidPaths().isEmpty)
        #expect(shell("ls -A '\(t.root)/store'") == ".links\n")
        // The store still works for what fits.
        _ = try store.addTextToStore(name: "small", contents: Array("fits".utf8))
    }
}
