import LinuxSystem

/// A running sandboxed program: pid 1 of its own PID namespace, its log pipe, and the means to
/// wait for it with deadlines and to kill it together with everything it started.
///
/// Killing: SIGKILL to pid 1 through its pidfd; when the init of a PID namespace dies the kernel
/// kills every other process in it, double-forked and `setsid`ed ones included, and pid 1 is
/// reported dead only once they are gone. No process outlives its sandbox (security.md P-1.2);
/// for build users `wait` also runs killUser, as guix-daemon does.
public final class SandboxProcess: @unchecked Sendable {
    public let handle: ProcessHandle
    /// Read end of the pipe that is the program's stdout and stderr.
    public let log: FileDescriptor
    let identity: SandboxIdentity
    /// False without a chroot: then the program leads its own session and process group, and
    /// killing means that group (which a builder calling setsid can leave: build users' killUser
    /// is the backstop, as in guix-daemon).
    let ownPIDNamespace: Bool

    init(handle: ProcessHandle, log: FileDescriptor, identity: SandboxIdentity, ownPIDNamespace: Bool) {
        self.handle = handle
        self.log = log
        self.identity = identity
        self.ownPIDNamespace = ownPIDNamespace
    }

    /// The sandbox's mount namespace, held from the spawn on so that its teardown (every mount
    /// unmounted, then an RCU grace period: ~0.3 ms with 200 inputs) does not run in the exit of
    /// the program, before `wait` returns, but wherever the holder lets it go (the Builder's
    /// Janitor thread). nil without a chroot, or if the program was gone before it was taken.
    public var mountNamespace: FileDescriptor?

    /// Host pid of the program (pid 1 inside).
    public var pid: Int32 { handle.pid }

    /// SIGKILL to the whole PID namespace (or, without one, to the program's process group).
    public func kill() throws(SandboxError) {
        do { try killAll() } catch { throw .system(error) }
    }

    private func killAll() throws(SystemError) {
        // An unreaped program keeps its pid, hence its group id, from being reused.
        if !ownPIDNamespace && !handle.hasBeenReaped { killProcessGroup(handle.pid) }
        try handle.kill()
    }

    /// Why `wait` killed the program, if it did.
    public enum KillReason: Hashable, Sendable {
        /// `timeout` elapsed since the start of `wait`.
        case timeout
        /// `maxSilentTime` elapsed without output.
        case silence
        /// More than `maxLogBytes` bytes of output.
        case logLimit
    }

    public struct Limits: Sendable {
        public var timeout: Duration?
        public var maxSilentTime: Duration?
        public var maxLogBytes: Int?
        public init(timeout: Duration? = nil, maxSilentTime: Duration? = nil, maxLogBytes: Int? = nil) {
            self.timeout = timeout
            self.maxSilentTime = maxSilentTime
            self.maxLogBytes = maxLogBytes
        }
    }

    public struct Outcome: Hashable, Sendable {
        public var status: ExitStatus
        public var killed: KillReason?
        public var logBytes: Int
    }

    /// Streams the log to `onOutput` (chunks of at most 4096 bytes, as guix-daemon reads) until
    /// the program has exited and every writer of the pipe is gone, enforcing the limits.
    public func wait(limits: Limits = Limits(), onOutput: (ArraySlice<UInt8>) -> Void = { _ in }) throws(SandboxError) -> Outcome {
        let clock = ContinuousClock()
        let start = clock.now
        var lastOutput = start
        var logBytes = 0
        var killed: KillReason?
        var status: ExitStatus?
        var logOpen = true
        var buffer = [UInt8](repeating: 0, count: 4096)

        do throws(SystemError) {
            while logOpen || status == nil {
                var deadline: ContinuousClock.Instant?
                if killed == nil {
                    if let timeout = limits.timeout { deadline = start + timeout }
                    if let silence = limits.maxSilentTime {
                        let candidate = lastOutput + silence
                        deadline = deadline.map { min($0, candidate) } ?? candidate
                    }
                }
                var waitMilliseconds: Int32 = -1
                if let deadline {
                    let left = deadline - clock.now
                    let ms = left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000
                    waitMilliseconds = Int32(clamping: max(0, ms + 1))
                }
                var watched: [FileDescriptor] = []
                if logOpen { watched.append(log) }
                if status == nil { watched.append(handle.descriptor) }
                let ready = try pollReadable(watched, timeoutMilliseconds: waitMilliseconds)

                if logOpen && ready[0] {
                    let n = try readChunk(into: &buffer)
                    if n == 0 {
                        logOpen = false
                    } else {
                        logBytes += n
                        lastOutput = clock.now
                        onOutput(buffer[0..<n])
                        if let max = limits.maxLogBytes, logBytes > max, killed == nil {
                            killed = .logLimit
                            try killAll()
                        }
                    }
                }
                if status == nil, ready[ready.count - 1] {
                    // Without a PID namespace nothing ends the program's children with it (and
                    // they would keep the log open): kill its group while the zombie still holds
                    // the number, then reap.
                    if !ownPIDNamespace { killProcessGroup(handle.pid) }
                    status = try handle.poll()
                }
                if killed == nil, let deadline = deadlineReached(limits, start: start, lastOutput: lastOutput, now: clock.now) {
                    killed = deadline
                    try killAll()
                }
            }
        } catch {
            try? killAll()
            _ = try? handle.wait()
            throw .system(error)
        }
        afterExit()
        return Outcome(status: status ?? .exited(code: 255), killed: killed, logBytes: logBytes)
    }

    private func readChunk(into buffer: inout [UInt8]) throws(SystemError) -> Int {
        let result: Result<Int, SystemError> = buffer.withUnsafeMutableBytes { raw in
            do throws(SystemError) { return .success(try log.read(into: raw)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    private func deadlineReached(_ limits: Limits, start: ContinuousClock.Instant, lastOutput: ContinuousClock.Instant,
                                 now: ContinuousClock.Instant) -> KillReason? {
        if let timeout = limits.timeout, now - start >= timeout { return .timeout }
        if let silence = limits.maxSilentTime, now - lastOutput >= silence { return .silence }
        return nil
    }

    /// Waits without reading the log (the caller drains it, or nothing is written).
    public func waitForExit() throws(SandboxError) -> ExitStatus {
        do {
            if !ownPIDNamespace {
                while try !pollReadable([handle.descriptor], timeoutMilliseconds: -1)[0] {}
                killProcessGroup(handle.pid)
            }
            let status = try handle.wait()
            afterExit()
            return status
        } catch {
            throw .system(error)
        }
    }

    /// Build users: nothing running as that uid may survive the build (guix-daemon killUser).
    private func afterExit() {
        if case .buildUser(let uid, _, _) = identity { try? killUser(uid) }
    }

    deinit {
        // Never leave a sandbox running or a zombie behind when the caller drops the handle.
        if (try? handle.poll()) == nil {
            try? killAll()
            _ = try? handle.wait()
        }
    }
}
