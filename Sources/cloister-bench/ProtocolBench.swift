import Glibc
import StoreFormats
import WorkerProtocol
import LinuxSystem

/// Worker-protocol round trips: QueryPathInfo per second over one connection and over 8
/// concurrent ones against `cloister-daemon` (the binary beside this one, on a temp store),
/// with Debian's `nix-daemon --stdio` (same client code, same op, its own temp store) as the
/// reference; and the cost of a new connection's handshake (reference: a bare connect/close).
enum ProtocolBench {
    static let seconds = 2.0

    static func run(_ work: BenchDirectory) throws {
        let dir = work.path + "/protocol-\(getpid())"
        defer { _ = try? Program.run("/bin/rm", ["-rf", dir]) }
        let selfPath = (try? FileDescriptor.currentDirectory.readLink(at: Array("/proc/self/exe".utf8))).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let daemonPath = String(selfPath[..<(selfPath.lastIndex(of: "/") ?? selfPath.endIndex)]) + "/cloister-daemon"
        guard access(daemonPath, X_OK) == 0 else {
            print("bench protocol: skipped (build cloister-daemon beside cloister-bench: swift build -c release --scratch-path .build-release)")
            return
        }
        var env = ProcessEnvironment.current()
        env["NIX_STORE_DIR"] = dir + "/store"
        env["GUIX_STATE_DIRECTORY"] = dir + "/var"
        env["GUIX_LOG_DIRECTORY"] = dir + "/log"
        env["GUIX_CONFIGURATION_DIRECTORY"] = dir + "/etc"
        _ = try Program.run("/bin/mkdir", ["-p", dir])
        let socket = dir + "/sock"
        let daemon = try Program.start(daemonPath, ["--listen=" + socket], environment: env, logPath: dir + "/daemon.log")
        defer { try? daemon.signal(SIGTERM); _ = try? daemon.wait() }
        for _ in 0..<200 where access(socket, F_OK) != 0 { usleep(10_000) }
        let store = try StoreDirectory(dir + "/store")

        @Sendable func connect() throws -> (WorkerClient, FileDescriptor) {
            let fd = try Socket.connectUnix(path: socket)
            return (try WorkerClient(stream: FDStream(fd), storeDirectory: store, options: .nixDefault()), fd)
        }
        let (first, firstFD) = try connect()
        let path = try first.addTextToStore(name: "bench", text: Array("query me".utf8))
        let ours1 = try roundTrips(first, path)
        let ours8 = try concurrent(8) { let (c, fd) = try connect(); defer { try? fd.close() }; return try roundTrips(c, path) }
        try? firstFD.close()

        var reference1: Double?, reference8: Double?
        if access("/usr/bin/nix-daemon", X_OK) == 0 {
            var nixEnv = ProcessEnvironment.current()
            nixEnv["NIX_STORE_DIR"] = dir + "/nixstore"
            nixEnv["NIX_STATE_DIR"] = dir + "/nixstate"
            nixEnv["NIX_LOG_DIR"] = dir + "/nixlog"
            nixEnv["NIX_CONF_DIR"] = dir + "/nixconf"
            nixEnv.removeValue(forKey: "NIX_REMOTE")
            let nixStore = try StoreDirectory(dir + "/nixstore")
            let stdioEnvironment = nixEnv
            @Sendable func stdioClient() throws -> WorkerClient {
                let fd = try spawnStdio("/usr/bin/nix-daemon", ["--stdio"], environment: stdioEnvironment)
                return try WorkerClient(stream: FDStream(fd), storeDirectory: nixStore, options: .nixDefault())
            }
            let c = try stdioClient()
            let nixPath = try c.addTextToStore(name: "bench", text: Array("query me".utf8))
            reference1 = try roundTrips(c, nixPath)
            reference8 = try concurrent(8) { try roundTrips(try stdioClient(), nixPath) }
        }
        report("protocol queryPathInfo 1 connection", value: ours1, unit: "round trips/s", reference: reference1, referenceName: "nix-daemon --stdio")
        report("protocol queryPathInfo 8 connections", value: ours8, unit: "round trips/s", reference: reference8, referenceName: "nix-daemon --stdio")

        // Handshake: connect, handshake through STDERR_LAST, close (daemon time plus client).
        let n = 300
        var start = now()
        for _ in 0..<n {
            let fd = try Socket.connectUnix(path: socket)
            _ = try WorkerClient(stream: FDStream(fd), storeDirectory: store)
            try fd.close()
        }
        let handshake = (now() - start) / Double(n) * 1000
        start = now()
        for _ in 0..<n { try Socket.connectUnix(path: socket).close() }
        let bare = (now() - start) / Double(n) * 1000
        report("protocol handshake", value: handshake, unit: "ms per connection", reference: bare, referenceName: "bare connect/close")
    }

    /// QueryPathInfo round trips per second for `seconds`.
    static func roundTrips(_ c: WorkerClient, _ path: StorePath) throws -> Double {
        var count = 0
        let start = now()
        while now() - start < seconds {
            for _ in 0..<100 { guard try c.queryPathInfo(path) != nil else { throw WorkerProtocolError.remote(message: "not valid", status: 1) } }
            count += 100
        }
        return Double(count) / (now() - start)
    }

    /// Runs `body` on `n` threads at once and sums their rates.
    static func concurrent(_ n: Int, _ body: @escaping @Sendable () throws -> Double) throws -> Double {
        final class Results: @unchecked Sendable { var rates: [Double] = []; let lock = ConditionLock() }
        let results = Results()
        var threads: [SystemThread] = []
        for _ in 0..<n {
            threads.append(try SystemThread.start {
                let rate = (try? body()) ?? 0
                results.lock.withLock { results.rates.append(rate) }
            })
        }
        threads.forEach { $0.join() }
        return results.rates.reduce(0, +)
    }

    /// Spawns a program with a socketpair end as stdin and stdout; returns our end.
    static func spawnStdio(_ executable: String, _ arguments: [String], environment: [String: String]) throws -> FileDescriptor {
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw SystemError("socketpair", errno: .current)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = ([executable] + arguments).map { strdup($0) }
        let envp = environment.map { strdup("\($0.key)=\($0.value)") }
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, nil, argv + [nil], envp + [nil])
        close(fds[1])
        guard rc == 0 else { throw SystemError("posix_spawn", path: executable, errno: Errno(rawValue: rc)) }
        return FileDescriptor(owning: fds[0])
    }
}

/// A socket as a ByteStream for the benchmark's clients.
final class FDStream: ByteSource, ByteSink {
    let fd: FileDescriptor
    init(_ fd: FileDescriptor) { self.fd = fd }
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(WorkerProtocolError) -> Int {
        do { return try fd.read(into: buffer) } catch { throw .transport(operation: "read", errno: error.errno.rawValue) }
    }
    func write(_ bytes: UnsafeRawBufferPointer) throws(WorkerProtocolError) {
        do { try Socket.send(fd, bytes) } catch { throw .transport(operation: "write", errno: error.errno.rawValue) }
    }
}
