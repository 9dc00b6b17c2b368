/// Pre-spawned connection workers (swift-stack.md §1.5, issue 4): starting a worker process
/// (exec, Swift runtime, opening the store, first-use costs) takes milliseconds, so the daemon
/// keeps `size` workers already started, warmed up and idle, each waiting on its own
/// `SOCK_SEQPACKET` channel. An accepted connection is handed to the oldest spare with
/// SCM_RIGHTS; the spare acknowledges with one byte and the daemon then closes its copy. A
/// replacement is started once no connection has been handed off for `refillDelay` (or at
/// once when no spare is left): starting a worker costs milliseconds of CPU, and on a small
/// machine a replacement started during the new session's handshake slows it down.
///
/// Invariants: every session still runs in a process of its own that serves exactly one
/// connection and then exits (a crash ends that session only); the worker reads SO_PEERCRED
/// from the client socket it received, so trust is decided per connection exactly as before;
/// a connection is never lost to a spare that died: until the acknowledgement arrives the
/// daemon keeps the connection, and if the channel hangs up instead it hands the connection to
/// another worker (at most `attempts` times). A spare that dies idle is noticed (its channel
/// hangs up); if spares keep dying the pool stops refilling for a second so a worker that
/// cannot start does not spin (connections then start a worker each, as before).
/// A spare is speculative work, so where the daemon may lift the policy again (root) it puts
/// itself in SCHED_IDLE first thing (`DaemonServer.idleSpareKind`): its store opening and
/// rehearsal use only CPU that no session or build wants, and the daemon moves it to
/// SCHED_OTHER when it hands it a connection (its session then runs like any other).
/// A spare never outlives a daemon killed without stopping it: while idle it is killed with
/// the daemon (PR_SET_PDEATHSIG), and it opens the store only after checking the channel is open.
import LinuxSystem

final class WorkerPool {
    struct Spare {
        let pid: Int32
        /// The daemon's end; the worker holds the other end as fd 3.
        let channel: FileDescriptor
        /// Started in SCHED_IDLE; lifted to SCHED_OTHER when it gets a connection.
        let idle: Bool
    }

    /// A connection sent to a worker that has not acknowledged it yet.
    struct Handoff {
        let channel: FileDescriptor
        let connection: FileDescriptor
        let remote: Bool
        let attempt: Int
    }

    let size: Int
    let arguments: [String]
    let environment: [String: String]
    let log: @Sendable (String) -> Void
    /// Whether replacements start in SCHED_IDLE (only if this process can lift them again).
    let idleReplacements: Bool
    private(set) var spares: [Spare] = []
    private(set) var pending: [Handoff] = []
    /// No refill before this monotonic time (after spares died idle).
    private var holdUntil = 0.0
    /// When the last connection was handed off.
    private var lastDispatch = -Double.infinity
    /// How long after a hand-off the replacement waits while other spares remain.
    static let refillDelay = 0.010
    static let attempts = 3

    /// The payload byte that tells the worker what kind of listener the connection came from.
    static let unixPayload = UInt8(ascii: "u"), tcpPayload = UInt8(ascii: "t")
    /// The value of `DaemonServer.workerVariable` for a spare.
    static let spareKind = "spare"

    init(size: Int, arguments: [String], environment: [String: String], idleReplacements: Bool = SystemThread.canLeaveIdlePolicy(),
         log: @escaping @Sendable (String) -> Void) {
        self.size = size
        self.idleReplacements = idleReplacements
        self.arguments = arguments
        self.environment = environment
        self.log = log
    }

    /// The channels to poll: an idle spare's is readable only when it hung up (it died); a
    /// pending hand-off's when the worker acknowledged or died.
    var channels: [FileDescriptor] { spares.map(\.channel) + pending.map(\.channel) }

    /// When a missing spare may be started: never (the pool is full), or from a monotonic time
    /// on — after an idle death's hold, and `refillDelay` after the last hand-off unless no
    /// spare is left.
    static func refillTime(spareCount: Int, size: Int, lastDispatch: Double, holdUntil: Double) -> Double? {
        guard spareCount < size else { return nil }
        return spareCount == 0 ? holdUntil : max(holdUntil, lastDispatch + refillDelay)
    }

    /// Milliseconds until `refill` would start a spare, if one is missing; the accept loop
    /// polls no longer than that.
    var refillDueInMilliseconds: Int? {
        guard let time = Self.refillTime(spareCount: spares.count, size: size, lastDispatch: lastDispatch, holdUntil: holdUntil)
        else { return nil }
        return max(0, Int(((time - WallClock.monotonicSeconds) * 1000).rounded(.up)))
    }

    /// Starts spares until there are `size`, once `refillTime` has come.
    func refill() {
        guard let time = Self.refillTime(spareCount: spares.count, size: size, lastDispatch: lastDispatch, holdUntil: holdUntil),
              WallClock.monotonicSeconds >= time else { return }
        while spares.count < size {
            do { spares.append(try spawn(idle: idleReplacements)) } catch {
                log("cannot start a worker: \(error)")
                holdUntil = WallClock.monotonicSeconds + 1
                return
            }
        }
    }

    /// Hands `connection` (ours to close from now on) to the oldest live spare, else to a worker
    /// started for it (the message waits in its channel until it is ready).
    func dispatch(_ connection: FileDescriptor, remote: Bool, attempt: Int = 1) {
        let payload = [remote ? Self.tcpPayload : Self.unixPayload]
        lastDispatch = WallClock.monotonicSeconds
        while !spares.isEmpty {
            let spare = spares.removeFirst()
            if spare.idle {
                // Before the connection: its session must not wait behind anything else.
                do { try DaemonProcess.runNormally(spare.pid) } catch where error.errno != .noSuchProcess {
                    log("cannot lift worker \(spare.pid) out of SCHED_IDLE: \(error)")
                } catch {}
            }
            do {
                try DescriptorChannel.send(spare.channel, descriptor: connection, payload: payload)
                pending.append(Handoff(channel: spare.channel, connection: connection, remote: remote, attempt: attempt))
                return
            } catch {
                // EPIPE: this spare died unnoticed; try the next one.
                try? spare.channel.close()
                holdUntil = WallClock.monotonicSeconds + 1
            }
        }
        do {
            let worker = try spawn(idle: false)
            do {
                try DescriptorChannel.send(worker.channel, descriptor: connection, payload: payload)
            } catch {
                try? worker.channel.close()
                throw error
            }
            pending.append(Handoff(channel: worker.channel, connection: connection, remote: remote, attempt: attempt))
        } catch {
            log("cannot start a worker: \(error)")
            try? connection.close()
        }
    }

    /// Handles the channels poll found readable (`ready`, parallel to the `channels` polled):
    /// idle spares that hung up are forgotten; acknowledged hand-offs are closed; hand-offs
    /// whose worker died are dispatched again.
    func handle(_ polled: [FileDescriptor], ready: ArraySlice<Bool>) {
        let readyFDs = Set(zip(polled, ready).filter(\.1).map(\.0.rawValue))
        if readyFDs.isEmpty { return }
        spares.removeAll { spare in
            guard readyFDs.contains(spare.channel.rawValue) else { return false }
            try? spare.channel.close()
            holdUntil = WallClock.monotonicSeconds + 1
            return true
        }
        var retry: [Handoff] = []
        pending.removeAll { handoff in
            guard readyFDs.contains(handoff.channel.rawValue) else { return false }
            if DescriptorChannel.readAcknowledgement(handoff.channel) {
                try? handoff.connection.close()
            } else {
                retry.append(handoff)
            }
            try? handoff.channel.close()
            return true
        }
        for handoff in retry {
            if handoff.attempt < Self.attempts {
                dispatch(handoff.connection, remote: handoff.remote, attempt: handoff.attempt + 1)
            } else {
                log("dropping a connection: \(Self.attempts) workers died before taking it")
                try? handoff.connection.close()
            }
        }
    }

    /// Shutdown: idle spares are killed and reaped (they hold no session; one still starting
    /// would otherwise outlive the daemon until it looks at its channel). Connections still
    /// pending are closed (their workers, if alive, hold their own copies and finish).
    func close() {
        for spare in spares {
            try? spare.channel.close()
            DaemonProcess.killAndReap(spare.pid)
        }
        for handoff in pending {
            try? handoff.channel.close()
            try? handoff.connection.close()
        }
        spares = []
        pending = []
    }

    private func spawn(idle: Bool) throws(SystemError) -> Spare {
        let (ours, theirs) = try DescriptorChannel.makePair()
        defer { try? theirs.close() }
        var environment = self.environment
        environment[DaemonServer.workerVariable] = idle ? DaemonServer.idleSpareKind : Self.spareKind
        do {
            let pid = try DaemonProcess.spawnWorker(connection: theirs, arguments: arguments, environment: environment)
            return Spare(pid: pid, channel: ours, idle: idle)
        } catch {
            try? ours.close()
            throw error
        }
    }
}
