import Glibc
import CSandbox

/// Process-wide facilities a long-running server needs: detached threads, SIGTERM/SIGINT as a
/// flag the accept loop polls, SIGPIPE ignored (a vanished client is EPIPE, not death), and
/// user names for uids.
public enum DaemonProcess {
    nonisolated(unsafe) private static var terminationFlag: sig_atomic_t = 0

    /// Installs handlers for SIGTERM and SIGINT that only set a flag; ignores SIGPIPE.
    public static func installSignalHandlers() {
        signal(SIGPIPE, SIG_IGN)
        let handler: @convention(c) (Int32) -> Void = { _ in DaemonProcess.terminationFlag = 1 }
        signal(SIGTERM, handler)
        signal(SIGINT, handler)
        // A parent may have started us with these blocked (the mask is inherited).
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        sigprocmask(SIG_UNBLOCK, &set, nil)
    }

    public static var terminationRequested: Bool { terminationFlag != 0 }

    /// Runs `body` on a new detached thread.
    public static func detachThread(_ body: @escaping @Sendable () -> Void) throws(SystemError) {
        final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var thread = pthread_t()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        pthread_attr_setstacksize(&attributes, 8 << 20)
        defer { pthread_attr_destroy(&attributes) }
        let status = pthread_create(&thread, &attributes, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            box.body()
            return nil
        }, box)
        if status != 0 {
            Unmanaged<Box>.fromOpaque(box).release()
            throw SystemError("pthread_create", errno: Errno(rawValue: status))
        }
    }

    /// The login name of `uid`, or nil if it has none.
    public static func userName(of uid: UInt32) -> String? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.pw_name else { return nil }
        return String(cString: name)
    }
}

extension DaemonProcess {
    /// Starts a copy of this executable (`/proc/self/exe`) with `arguments` and `environment`,
    /// `connection` as its fd 3 and stdin on /dev/null (stdout/stderr inherited): the
    /// per-connection worker of swift-stack.md §1.5. Signals start unblocked and at defaults.
    public static func spawnWorker(connection: FileDescriptor, arguments: [String], environment: [String: String]) throws(SystemError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, connection.rawValue, 3)
        return try Program.spawn("/proc/self/exe", argv: arguments, environment: environment, actions: &actions)
    }

    /// Moves the main thread of `pid` (a worker that put itself in SCHED_IDLE) back to the
    /// normal policy, SCHED_OTHER.
    /// Leaving SCHED_IDLE needs CAP_SYS_NICE or a high enough RLIMIT_NICE
    /// (`SystemThread.canLeaveIdlePolicy`).
    public static func runNormally(_ pid: pid_t) throws(SystemError) {
        var parameter = sched_param()
        parameter.sched_priority = 0
        _ = try retrying("sched_setscheduler(SCHED_OTHER)") { sched_setscheduler(pid, SCHED_OTHER, &parameter) }
    }

    /// SIGKILL to a child that holds no session (an idle spare worker), then waits for it, so
    /// nothing of the daemon outlives its shutdown.
    public static func killAndReap(_ pid: pid_t) {
        guard pid > 0, kill(pid, SIGKILL) == 0 else { return }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }

    /// Asks the kernel to SIGKILL this process when the thread that started it exits (`true`),
    /// or no longer (`false`): PR_SET_PDEATHSIG. An idle spare worker is killed with a daemon
    /// that died without the chance to stop it.
    public static func dieWithParent(_ enabled: Bool) throws(SystemError) {
        _ = try retrying("prctl(PR_SET_PDEATHSIG)") { csandbox_set_parent_death_signal(enabled ? SIGKILL : 0) }
    }

    /// Reaps every exited child without blocking; returns how many.
    @discardableResult
    public static func reapChildren() -> Int {
        var count = 0
        var status: Int32 = 0
        while waitpid(-1, &status, WNOHANG) > 0 { count += 1 }
        return count
    }
}
