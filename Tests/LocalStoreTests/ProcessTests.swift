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
}
