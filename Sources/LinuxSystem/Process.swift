import CSandbox
import Glibc

/// How a process ended, decoded from a wait(2) status word.
public enum ExitStatus: Hashable, Sendable, CustomStringConvertible {
    case exited(code: Int32)
    case signaled(signal: Int32, coreDumped: Bool)

    /// Decodes the classic status word (WIFEXITED/WTERMSIG are macros Swift cannot import).
    public init(waitStatus: Int32) {
        let signal = waitStatus & 0x7f
        if signal == 0 {
            self = .exited(code: (waitStatus >> 8) & 0xff)
        } else {
            self = .signaled(signal: signal, coreDumped: waitStatus & 0x80 != 0)
        }
    }

    public var isSuccess: Bool { self == .exited(code: 0) }

    public var description: String {
        switch self {
        case .exited(let code): return "exit code \(code)"
        case .signaled(let signal, _): return "signal \(signal) (\(String(cString: strsignal(signal))))"
        }
    }
}

/// A child process held through a pidfd: it cannot be confused with a later process that
/// reuses its pid, and it can be waited for with poll(2) next to other fds.
public final class ProcessHandle: @unchecked Sendable {
    public let pid: pid_t
    /// The pidfd; readable (POLLIN) once the process has exited.
    public let descriptor: FileDescriptor
    private var reaped: ExitStatus?

    /// True once `wait` or `poll` collected the exit status: from then on the pid may belong to
    /// another process, so nothing may be sent to it (or to a group of that number).
    public var hasBeenReaped: Bool { reaped != nil }

    public init(pid: pid_t, owningPidfd: Int32) {
        self.pid = pid
        self.descriptor = FileDescriptor(owning: owningPidfd)
    }

    /// `pidfd_send_signal(2)`. Sending to an exited but unreaped process is not an error.
    public func signal(_ signal: Int32) throws(SystemError) {
        if reaped != nil { return }
        if csandbox_pidfd_send_signal(descriptor.rawValue, signal) < 0 {
            let error = Errno.current
            if error == Errno(rawValue: ESRCH) { return }
            throw SystemError("pidfd_send_signal", errno: error)
        }
    }

    /// SIGKILL. For the init of a PID namespace this ends every process in the namespace.
    public func kill() throws(SystemError) { try signal(SIGKILL) }

    /// Blocks until the process exits and reaps it (waitid P_PIDFD). Idempotent.
    public func wait() throws(SystemError) -> ExitStatus {
        if let reaped { return reaped }
        var status: Int32 = 0
        if csandbox_pidfd_wait(descriptor.rawValue, 0, &status) < 0 {
            throw SystemError("waitid", errno: .current)
        }
        let result = ExitStatus(waitStatus: status)
        reaped = result
        return result
    }

    /// Reaps the process if it has exited; nil while it still runs.
    public func poll() throws(SystemError) -> ExitStatus? {
        if let reaped { return reaped }
        var status: Int32 = 0
        let rc = csandbox_pidfd_wait(descriptor.rawValue, WNOHANG, &status)
        if rc < 0 { throw SystemError("waitid", errno: .current) }
        if rc == 0 { return nil }
        let result = ExitStatus(waitStatus: status)
        reaped = result
        return result
    }
}

/// A pipe whose both ends are close-on-exec.
public func makePipe() throws(SystemError) -> (read: FileDescriptor, write: FileDescriptor) {
    var fds: [Int32] = [-1, -1]
    let rc = fds.withUnsafeMutableBufferPointer { csandbox_pipe2($0.baseAddress!, CSANDBOX_O_CLOEXEC) }
    if rc < 0 { throw SystemError("pipe2", errno: .current) }
    return (FileDescriptor(owning: fds[0]), FileDescriptor(owning: fds[1]))
}

/// `poll(2)` over a few descriptors for readability (POLLIN, or hang-up/error, which also mean
/// "read now and see"). Returns, per descriptor, whether it is ready; all false on timeout.
/// `timeoutMilliseconds` < 0 waits forever. EINTR is reported as a timeout (callers loop).
public func pollReadable(_ descriptors: [FileDescriptor], timeoutMilliseconds: Int32) throws(SystemError) -> [Bool] {
    var fds = descriptors.map { pollfd(fd: $0.rawValue, events: Int16(POLLIN), revents: 0) }
    let rc = fds.withUnsafeMutableBufferPointer { Glibc.poll($0.baseAddress, nfds_t($0.count), timeoutMilliseconds) }
    if rc < 0 {
        if Errno.current == .interrupted { return Array(repeating: false, count: fds.count) }
        throw SystemError("poll", errno: .current)
    }
    return fds.map { $0.revents != 0 }
}

/// SIGKILL to the process group `pgid` (a group led by a process that called setsid). Errors
/// (no such group) are ignored: the point is that nothing of it is left.
public func killProcessGroup(_ pgid: pid_t) {
    if pgid > 1 { _ = kill(-pgid, SIGKILL) }
}

/// guix-daemon's killUser: SIGKILL every process running as `uid` until none is left, from a
/// short-lived child that becomes `uid` (so kill(-1) reaches exactly that uid's processes).
/// Refuses uid 0. Needs root (or CAP_SETUID and CAP_KILL).
public func killUser(_ uid: uid_t) throws(SystemError) {
    let error = csandbox_kill_user(uid)
    if error != 0 { throw SystemError("killUser(\(uid))", errno: Errno(rawValue: error)) }
}

/// Ids of the calling process.
public enum ProcessIdentity {
    public static var userID: uid_t { getuid() }
    public static var effectiveUserID: uid_t { geteuid() }
    public static var groupID: gid_t { getgid() }
    public static var effectiveGroupID: gid_t { getegid() }
    public static var processID: pid_t { getpid() }
    /// Seconds since the epoch.
    public static var currentTime: Int64 { Int64(time(nil)) }
}
