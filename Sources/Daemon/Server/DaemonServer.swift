/// The listener (guix-daemon.md §0, §10.3): socket activation (`LISTEN_PID`/`LISTEN_FDS`) or
/// each `--listen` address or the default Unix socket; for every connection, SO_PEERCRED ->
/// trust (root or the daemon's uid; TCP never), the per-user profile directory (SEC-01), and
/// a session with its own LocalStore (one SQLite connection each; the store coordinates
/// processes and threads with OFD locks) in a worker process of its own — handed to a
/// pre-spawned spare (WorkerPool) — or on a thread. SIGTERM/SIGINT stop accepting and return.
import StoreFormats
import WorkerProtocol
import LocalStore
import LinuxSystem

public final class DaemonServer: @unchecked Sendable {
    public let configuration: DaemonConfiguration
    let storeConfiguration: StoreConfiguration
    var listeners: [(FileDescriptor, remote: Bool)] = []
    /// Called with each log line (stderr in the executable).
    let log: @Sendable (String) -> Void

    public init(configuration: DaemonConfiguration, log: @escaping @Sendable (String) -> Void = { _ in }) throws {
        self.configuration = configuration
        self.log = log
        let layout = StoreLayout(storeDirectory: try StoreDirectory(configuration.storeDirectory),
                                 stateDirectory: configuration.stateDirectory,
                                 databaseDirectory: configuration.databaseDirectory,
                                 logDirectory: configuration.logDirectory,
                                 configurationDirectory: configuration.configurationDirectory)
        storeConfiguration = StoreConfiguration(layout: layout, nameRules: .nix, gcKeepOutputs: configuration.gcKeepOutputs,
                                                gcKeepDerivations: configuration.gcKeepDerivations,
                                                deduplicate: configuration.autoOptimiseStore)
    }

    /// Opens the listening sockets.
    public func listen() throws {
        if !configuration.activationDescriptors.isEmpty {
            log("socket-activated with \(configuration.activationDescriptors.count) socket(s)")
            for fd in configuration.activationDescriptors {
                listeners.append((FileDescriptor(owning: fd), remote: !Socket.isUnixSocket(fd)))
            }
            return
        }
        for address in configuration.effectiveListenAddresses {
            switch address {
            case .unix(let path):
                if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
                    try HostPath.makeDirectories(String(path[..<slash]))
                }
                listeners.append((try Socket.listenUnix(path: path), remote: false))
                log("listening on \(path)")
            case .tcp(let host, let port):
                listeners.append((try Socket.listenTCP(host: host, port: port), remote: true))
                log("listening on \(host):\(port)")
            }
        }
    }


    /// `mkdir`; false if it already existed.
    @discardableResult
    static func makeDirectory(_ path: String) throws(SystemError) -> Bool {
        do {
            try FileDescriptor.currentDirectory.makeDirectory(at: Array(path.utf8), mode: 0o755)
            return true
        } catch {
            if error.errno == .fileExists { return false }
            throw error
        }
    }

    /// Accepts until SIGTERM/SIGINT. Each connection runs in a worker process of its own (a
    /// pre-spawned spare, see WorkerPool) or, without `workerLaunch`, on a thread of its own.
    public func run() throws {
        // Open the store once up front so setup errors show at startup, not per client.
        _ = try LocalStore(configuration: storeConfiguration)
        // Signatures live here (LocalStore SignatureFiles); existing from the start, sessions hold it open.
        try? HostPath.makeDirectories(storeConfiguration.layout.signaturesDirectory)
        let pool = workerLaunch.map {
            WorkerPool(size: spareWorkers, arguments: $0.arguments, environment: $0.environment,
                       idleReplacements: idleSpares && SystemThread.canLeaveIdlePolicy(), log: log)
        }
        defer { pool?.close() }
        pool?.refill()
        while !DaemonProcess.terminationRequested {
            let channels = pool?.channels ?? []
            // EINTR (a signal arrived) just comes back round to the termination check.
            let timeout = Int32(min(200, pool?.refillDueInMilliseconds ?? 200))
            guard let ready = try? pollReadable(listeners.map(\.0) + channels, timeoutMilliseconds: timeout) else { continue }
            DaemonProcess.reapChildren()
            // Worker channels first, while they are still the ones polled.
            pool?.handle(channels, ready: ready[listeners.count...])
            for (i, isReady) in ready.prefix(listeners.count).enumerated() where isReady {
                guard let connection = try? Socket.accept(listeners[i].0) else { continue }
                let remote = listeners[i].remote
                if let pool {
                    // One process per connection (swift-stack.md §1.5): a crash in a session
                    // ends that process only. The pool closes the connection once handed off.
                    pool.dispatch(connection, remote: remote)
                } else {
                    try DaemonProcess.detachThread { [self] in serve(connection, remote: remote) }
                }
            }
            pool?.refill()
        }
        log("terminating on signal")
    }

    /// Set by the executable to serve each connection in a fresh process running the same
    /// program (nil: a thread per connection in this process).
    public var workerLaunch: (arguments: [String], environment: [String: String])?
    /// How many started, idle workers to keep ready (`CLOISTER_SPARE_WORKERS`; 0 starts each
    /// worker only when its connection arrives).
    public var spareWorkers = 2
    /// Spares wait in SCHED_IDLE where that can be lifted (WorkerPool); CLOISTER_IDLE_SPARES=0
    /// turns it off (measurements).
    public var idleSpares = true
    /// How long a session may poll its client socket after a reply before blocking
    /// (ReplyPolling; `CLOISTER_REPLY_POLL_US`, 0 = never).
    public var replyPollMicroseconds = ReplyPolling.defaultMicroseconds

    /// Log each session's time, CPU time and polling or burst counts when it ends
    /// (`CLOISTER_SESSION_LOG=1`, for profiling).
    public var logSessions = false

    /// Whether sessions hold fast CPU wake-ups across lookups fired back to back (LookupBurst;
    /// `CLOISTER_LOOKUP_BURSTS=0` turns it off). Where the device cannot be opened (not root)
    /// sessions use reply polling instead.
    public var lookupBursts = true

    /// Reads `CLOISTER_REPLY_POLL_US` (microseconds, 0 turns polling off, at most 1000),
    /// `CLOISTER_SESSION_LOG` and `CLOISTER_LOOKUP_BURSTS`.
    public func applySessionTuning(environment: [String: String]) {
        logSessions = environment["CLOISTER_SESSION_LOG"].map { !$0.isEmpty && $0 != "0" } ?? false
        replyPollMicroseconds = ReplyPolling.fromEnvironment(environment).map { Int(($0.budget * 1e6).rounded()) } ?? 0
        lookupBursts = environment[LookupBurst.environmentVariable] != "0"
    }

    /// The session's way to keep wake-ups fast: a lookup burst where the CPU latency device
    /// opens, reply polling otherwise (or neither, when both are turned off).
    /// `opened` is a request a spare opened while it waited.
    func makeStream(_ connection: FileDescriptor, latencyRequest opened: CPULatencyRequest?) -> SocketStream {
        let request = lookupBursts ? (opened ?? (try? CPULatencyRequest())) : nil
        return SocketStream(connection, polling: replyPollMicroseconds > 0 ? ReplyPolling(budget: Double(replyPollMicroseconds) / 1e6) : nil,
                            burst: request.map { LookupBurst(request: $0) })
    }

    /// Tells a spawned process that it is a connection worker: "spare" (a channel on fd 3
    /// brings the connection), or "unix"/"tcp" (fd 3 is the connection itself).
    public static let workerVariable = "_CLOISTER_WORKER"
    /// The `workerVariable` value of a spare that runs in SCHED_IDLE until the daemon hands it
    /// a connection (WorkerPool); the program sets the policy before anything else.
    public static let idleSpareKind = "idle-spare"

    /// Worker side: serves the connection on fd 3 and returns when it ends.
    public func serveWorker(remote: Bool) {
        serve(FileDescriptor(owning: 3), remote: remote)
        finishBuilds()
    }

    /// Spare worker side: opens the store, then waits on the channel (fd 3) for the one
    /// connection it will serve; returns without serving if the daemon closed the channel.
    public func serveSpare() {
        let channel = FileDescriptor(owning: 3)
        // A daemon killed outright (SIGKILL: no chance to stop its spares) must not leave an
        // idle spare behind that opens — possibly re-creates — a store nobody serves: while
        // idle, the kernel kills us with it; and if it died before that took effect its end
        // of the channel is already closed, so look before touching anything.
        try? DaemonProcess.dieWithParent(true)
        if DescriptorChannel.isClosedByPeer(channel) { return }
        // The store is opened before the client arrives; a failure is reported to the client.
        let store = Result { () throws(LocalStoreError) in try LocalStore(configuration: storeConfiguration) }
        var latencyRequest: CPULatencyRequest?
        // Rehearse unless a client already waits (a worker started for a waiting connection).
        if case .success(let opened) = store, let waiting = try? pollReadable([channel], timeoutMilliseconds: 0), waiting == [false] {
            WorkerWarmUp.run(store: opened, configuration: configuration)
            if lookupBursts { latencyRequest = try? CPULatencyRequest() }
            prepareBuilds(storeDirectory: opened.layout.storePath, stateDirectory: opened.layout.stateDirectory,
                          logDirectory: opened.layout.logDirectory)
        }
        let received = (try? DescriptorChannel.receive(channel)) ?? nil
        // From here on a session runs: it finishes even if the daemon dies meanwhile, as a
        // worker started for its connection always did.
        try? DaemonProcess.dieWithParent(false)
        // The daemon keeps its copy of the connection until this byte arrives.
        if received != nil { try? DescriptorChannel.acknowledge(channel) }
        try? channel.close()
        guard let (connection, payload) = received else { return }
        // TCP listeners send "t"; the socket's own family decides as well.
        let remote = payload.first == WorkerPool.tcpPayload || !Socket.isUnixSocket(connection.rawValue)
        serve(connection, remote: remote, store: store, latencyRequest: latencyRequest)
        finishBuilds()
    }

    /// Identifies the peer and runs one session to its end.
    public func serve(_ connection: FileDescriptor, remote: Bool) {
        serve(connection, remote: remote, store: Result { () throws(LocalStoreError) in try LocalStore(configuration: storeConfiguration) })
    }

    func serve(_ connection: FileDescriptor, remote: Bool, store opened: Result<LocalStore, LocalStoreError>,
               latencyRequest: CPULatencyRequest? = nil) {
        defer { try? connection.close() }
        let peer = remote ? nil : Socket.peerCredentials(connection)
        let daemonUID = ProcessEnvironment.realUserID
        let trusted = peer.map { $0.uid == 0 || $0.uid == daemonUID } ?? false
        let userName = peer.flatMap { DaemonProcess.userName(of: $0.uid) }
        let client = ClientIdentity(uid: peer?.uid, gid: peer?.gid, pid: peer?.pid, userName: userName, trusted: trusted, remote: remote)
        if let peer { log("accepted connection from pid \(peer.pid), user \(userName ?? String(peer.uid))") }
        let stream = makeStream(connection, latencyRequest: latencyRequest)
        let store: LocalStore
        do { store = try opened.get() } catch {
            refuse(stream, error)
            return
        }
        let service = LocalStoreService(store: store, substituteURLs: configuration.useSubstitutes ? configuration.substituteURLs : [],
                                        configuration: configuration, clientUID: peer?.uid, clientGID: peer?.gid)
        // Activity ids carry the worker's pid in their high bits, as nix-daemon's do.
        let session = ServerSession(stream: stream, service: service, client: client, storeDirectory: store.storeDirectory,
                                    activityIDBase: UInt64(UInt32(bitPattern: ProcessEnvironment.processID)) << 32)
        session.onHandshake = { [self] _, _ in try makeUserProfileDirectory(client) }
        session.onOperation = { [unowned stream] op in stream.operationStarts(op) }
        let before = logSessions ? (time: WallClock.monotonicSeconds, cpu: ProcessCPUTime.seconds) : nil
        _ = session.run()
        if let before { logSession(session, stream, since: before) }
    }

    /// The `logSessions` line: wall and CPU time (getrusage: tick-sampled, so the split between
    /// user and system is rough), then how the session kept wake-ups fast.
    private func logSession(_ session: ServerSession, _ stream: SocketStream, since before: (time: Double, cpu: (user: Double, system: Double))) {
        let cpu = ProcessCPUTime.seconds
        let microseconds = { (seconds: Double) in Int((seconds * 1e6).rounded()) }
        var line = "session: \(session.operationsServed) operations in \(microseconds(WallClock.monotonicSeconds - before.time)) µs, "
            + "CPU \(microseconds(cpu.user - before.cpu.user)) µs user + \(microseconds(cpu.system - before.cpu.system)) µs system"
        if let polling = stream.polling {
            line += "; reply polling: \(polling.hits) caught while polling, \(polling.misses) missed, \(polling.busy) not polled (busy machine)"
        }
        if let burst = stream.burst {
            line += "; lookup bursts: \(burst.holds) held, \(burst.liftedOnSilence) ended by silence, \(burst.liftedForOperation) by another operation"
        }
        log(line)
    }

    /// A client we cannot serve still gets the handshake and an error frame.
    private func refuse(_ stream: SocketStream, _ error: any Error) {
        let session = ServerSession(stream: stream, service: RefusingService(error), client: ClientIdentity(trusted: false),
                                    storeDirectory: (try? StoreDirectory(configuration.storeDirectory)) ?? .guix)
        session.onHandshake = { _, _ in throw error }
        _ = session.run()
    }

    /// `profiles/per-user/<user>`, owned by the user (SEC-01; guix-daemon.md §7.2 step 6).
    func makeUserProfileDirectory(_ client: ClientIdentity) throws {
        guard let name = client.userName, let uid = client.uid, !name.contains("/"), name != "..", name != "." else { return }
        let perUser = configuration.stateDirectory + "/profiles/per-user"
        let dir = perUser + "/" + name
        // Every connection comes here: one mkdir when the parents exist (the usual case),
        // not one per path component.
        var created = false
        do {
            created = try Self.makeDirectory(dir)
        } catch {
            guard error.errno == .noSuchFile else { throw error }
            try HostPath.makeDirectories(perUser)
            created = try Self.makeDirectory(dir)
        }
        guard created else { return }
        if ProcessEnvironment.effectiveUserID == 0 {
            let fd = try FileDescriptor.open(dir, [.directory, .noFollow])
            defer { try? fd.close() }
            try fd.changeOwner(uid, client.gid ?? uid)
        }
    }
}
