import Glibc
import StoreFormats
import WorkerProtocol
import LinuxSystem

/// Worker-protocol costs against `cloister-daemon` (the binary beside this one, or
/// `CLOISTER_BENCH_DAEMON`, on a temp store), with Debian's nix-daemon as the reference:
/// - QueryPathInfo round trips per second over one connection and over 8 concurrent ones
///   (reference: `nix-daemon --stdio`, same client code, same op, its own temp store);
/// - a new connection's handshake as the daemon serves it: connect until `STDERR_LAST`, one
///   connection at a time with a pause between them (so the daemon is idle when it arrives),
///   median; for the default mode (pre-spawned workers), for `CLOISTER_SPARE_WORKERS=0`
///   (a worker started per connection, the previous behaviour) and for thread mode
///   (reference: `nix-daemon --daemon`, which forks per connection, when run as root);
/// - connections per second back to back (connect, handshake, close, no pause).
enum ProtocolBench {
    static let seconds = 2.0

    static func run(_ work: BenchDirectory) throws {
        let dir = work.path + "/protocol-\(getpid())"
        defer { _ = try? Program.run("/bin/rm", ["-rf", dir]) }
        let selfPath = (try? FileDescriptor.currentDirectory.readLink(at: Array("/proc/self/exe".utf8))).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let daemonPath = getenv("CLOISTER_BENCH_DAEMON").map { String(cString: $0) }
            ?? String(selfPath[..<(selfPath.lastIndex(of: "/") ?? selfPath.endIndex)]) + "/cloister-daemon"
        guard access(daemonPath, X_OK) == 0 else {
            print("bench protocol: skipped (build cloister-daemon beside cloister-bench: swift build -c release --scratch-path .build-release)")
            return
        }
        var env = ProcessEnvironment.current()
        env["NIX_STORE_DIR"] = dir + "/store"
        env["GUIX_STATE_DIRECTORY"] = dir + "/var"
        env["GUIX_LOG_DIRECTORY"] = dir + "/log"
        env["GUIX_CONFIGURATION_DIRECTORY"] = dir + "/etc"
        env.removeValue(forKey: "CLOISTER_THREAD_PER_CONNECTION")
        env.removeValue(forKey: "CLOISTER_SPARE_WORKERS")
        _ = try Program.run("/bin/mkdir", ["-p", dir])
        let store = try StoreDirectory(dir + "/store")

        // Default mode: pre-spawned workers.
        let socket = dir + "/sock"
        var daemon: ProcessHandle? = try startDaemon(daemonPath, ["--listen=" + socket], env, socket: socket, log: dir + "/daemon.log")
        defer { if let daemon { stop(daemon) } }
        @Sendable func connect() throws -> (WorkerClient, FileDescriptor) {
            let fd = try Socket.connectUnix(path: socket)
            return (try WorkerClient(stream: FDStream(fd), storeDirectory: store, options: .nixDefault()), fd)
        }
        let (first, firstFD) = try connect()
        let path = try first.addTextToStore(name: "bench", text: Array("query me".utf8))
        let ours1 = try roundTrips(first, path)
        let ours8 = try concurrent(8) { let (c, fd) = try connect(); defer { try? fd.close() }; return try roundTrips(c, path) }
        try? firstFD.close()
        let handshakeLatency = try handshake(socket, store)
        let rate = try connectionsPerSecond(socket, store)
        if let d = daemon { stop(d); daemon = nil }

        // The previous behaviour (a worker started when its connection arrives) and thread mode.
        var perConnectionEnv = env
        perConnectionEnv["CLOISTER_SPARE_WORKERS"] = "0"
        let onDemand = try withDaemon(daemonPath, perConnectionEnv, dir: dir, name: "on-demand") { try handshake($0, store, count: 40) }
        var threadEnv = env
        threadEnv["CLOISTER_THREAD_PER_CONNECTION"] = "1"
        let thread = try withDaemon(daemonPath, threadEnv, dir: dir, name: "thread") { try handshake($0, store) }

        var reference1: Double?, reference8: Double?, nixHandshake: Double?, nixRate: Double?
        if access("/usr/bin/nix-daemon", X_OK) == 0 {
            var nixEnv = ProcessEnvironment.current()
            nixEnv["NIX_STORE_DIR"] = dir + "/nixstore"
            nixEnv["NIX_STATE_DIR"] = dir + "/nixstate"
            nixEnv["NIX_LOG_DIR"] = dir + "/nixlog"
            nixEnv["NIX_CONF_DIR"] = dir + "/nixconf"
            nixEnv["NIX_USER_CONF_FILES"] = ""
            nixEnv.removeValue(forKey: "NIX_REMOTE")
            _ = try Program.run("/bin/mkdir", ["-p", dir + "/nixconf"])
            let conf = try FileDescriptor.open(dir + "/nixconf/nix.conf", [.writeOnly, .create, .truncate], mode: 0o644)
            try conf.writeAll(Array("build-users-group =\nsubstituters =\n".utf8))
            try conf.close()
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
            if geteuid() == 0 {
                // nix-daemon --daemon forks a worker per connection (root only: it needs its state dir).
                let nixSocket = dir + "/nixsock"
                nixEnv["NIX_DAEMON_SOCKET_PATH"] = nixSocket
                // Its workers must open the store directly: with the default `auto` they would
                // find this socket and connect to it, each worker forking another, without end.
                nixEnv["NIX_REMOTE"] = "local"
                if let nix = try? startDaemon("/usr/bin/nix-daemon", ["--daemon"], nixEnv, socket: nixSocket, log: dir + "/nix-daemon.log") {
                    defer { stop(nix) }
                    nixHandshake = try? handshake(nixSocket, nixStore)
                    nixRate = try? connectionsPerSecond(nixSocket, nixStore)
                }
            }
        }
        report("protocol queryPathInfo 1 connection", value: ours1, unit: "round trips/s", reference: reference1, referenceName: "nix-daemon --stdio")
        report("protocol queryPathInfo 8 connections", value: ours8, unit: "round trips/s", reference: reference8, referenceName: "nix-daemon --stdio")
        report("protocol handshake (spare workers), median", value: handshakeLatency, unit: "ms", reference: nixHandshake, referenceName: "nix-daemon --daemon")
        report("protocol handshake (worker per connection, CLOISTER_SPARE_WORKERS=0), median", value: onDemand, unit: "ms",
               reference: handshakeLatency, referenceName: "spare workers")
        report("protocol handshake (thread per connection), median", value: thread, unit: "ms", reference: handshakeLatency, referenceName: "spare workers")
        report("protocol connections back to back", value: rate, unit: "connections/s", reference: nixRate, referenceName: "nix-daemon --daemon")
    }

    /// Starts a daemon and waits for its socket.
    static func startDaemon(_ program: String, _ arguments: [String], _ env: [String: String], socket: String, log: String) throws -> ProcessHandle {
        let daemon = try Program.start(program, arguments, environment: env, logPath: log)
        for _ in 0..<500 where access(socket, F_OK) != 0 { usleep(10_000) }
        guard access(socket, F_OK) == 0 else { stop(daemon); throw SystemError("connect", path: socket, errno: .noSuchFile) }
        usleep(100_000)  // Let spare workers finish starting.
        return daemon
    }

    static func stop(_ daemon: ProcessHandle) {
        try? daemon.signal(SIGTERM)
        _ = try? daemon.wait()
    }

    /// Runs `body` with the socket of a Cloister daemon started with `env`, then stops it.
    static func withDaemon<T>(_ program: String, _ env: [String: String], dir: String, name: String, _ body: (String) throws -> T) throws -> T {
        let socket = dir + "/sock-" + name
        let daemon = try startDaemon(program, ["--listen=" + socket], env, socket: socket, log: dir + "/daemon-\(name).log")
        defer { stop(daemon) }
        return try body(socket)
    }

    /// Median milliseconds from connect to the end of the handshake, one connection at a time
    /// with `pause` seconds between them (the daemon is idle and its spares ready).
    static func handshake(_ socket: String, _ store: StoreDirectory, count: Int = 100, pause: Double = 0.03) throws -> Double {
        var samples: [Double] = []
        for _ in 0..<count {
            usleep(UInt32(pause * 1e6))
            let start = now()
            let fd = try Socket.connectUnix(path: socket)
            _ = try WorkerClient(stream: FDStream(fd), storeDirectory: store)
            samples.append((now() - start) * 1000)
            try fd.close()
        }
        samples.sort()
        return samples[samples.count / 2]
    }

    /// Connect, handshake, close, as fast as the daemon allows, for `seconds`.
    static func connectionsPerSecond(_ socket: String, _ store: StoreDirectory) throws -> Double {
        var count = 0
        let start = now()
        while now() - start < seconds {
            let fd = try Socket.connectUnix(path: socket)
            _ = try WorkerClient(stream: FDStream(fd), storeDirectory: store)
            try fd.close()
            count += 1
        }
        return Double(count) / (now() - start)
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
