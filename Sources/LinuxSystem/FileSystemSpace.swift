import Glibc

extension FileDescriptor {
    /// `fstatvfs(2)`: bytes available to unprivileged users on this descriptor's file system.
    public func availableBytes() throws(SystemError) -> UInt64 {
        var s = statvfs()
        _ = try retrying("fstatvfs") { fstatvfs(rawValue, &s) }
        return UInt64(s.f_bavail) * UInt64(s.f_frsize)
    }
}

public enum FileSystemSync {
    /// `sync(2)`: flush every file system (guix-daemon's `sync-before-registering`).
    public static func synchronizeAll() { sync() }
}
