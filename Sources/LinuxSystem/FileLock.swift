import Glibc
import CSandbox

/// Whole-file advisory locks as guix-daemon takes them (pathlocks.cc: fcntl F_SETLK/F_SETLKW,
/// read = shared, write = exclusive), but as open-file-description locks (F_OFD_SETLK): they
/// belong to the open file, not the process, so two threads of one daemon holding separate fds
/// exclude each other too. OFD and classic POSIX locks conflict with each other on Linux, so a
/// real guix-daemon on the same store still sees our locks and we see its.
public enum LockKind: Sendable {
    case read, write

    var type: Int16 { self == .read ? Int16(F_RDLCK) : Int16(F_WRLCK) }
}

extension FileDescriptor {
    /// Locks the whole file. With `wait`, blocks until granted (EINTR retried) and returns true;
    /// without, returns false at once if another holder conflicts. Taking a lock of the other
    /// kind converts the one held (used for the temp-roots downgrade from write to read).
    @discardableResult
    public func lock(_ kind: LockKind, wait: Bool) throws(SystemError) -> Bool {
        try setLock(kind.type, wait: wait)
    }

    /// Releases a lock taken through this descriptor (closing it does too).
    public func unlock() throws(SystemError) {
        _ = try setLock(Int16(F_UNLCK), wait: false)
    }

    private func setLock(_ type: Int16, wait: Bool) throws(SystemError) -> Bool {
        var lock = flock()
        lock.l_type = type
        lock.l_whence = Int16(SEEK_SET)
        lock.l_start = 0
        lock.l_len = 0  // to the end, however large the file grows
        lock.l_pid = 0  // required by OFD locks
        let command = wait ? cloister_f_ofd_setlkw() : cloister_f_ofd_setlk()
        while true {
            if fcntl(rawValue, command, &lock) == 0 { return true }
            let error = Errno.current
            if error == .interrupted { continue }
            if !wait && (error == .wouldBlock || error == .permissionDenied) { return false }
            throw SystemError("fcntl(F_OFD_SETLK)", errno: error)
        }
    }
}
