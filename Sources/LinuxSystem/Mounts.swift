import CSandbox
import Glibc

/// Parent-side mount operations (the sandbox child does its own in C): the daemon's private,
/// writable view of a read-only store (guix-daemon makeStoreWritable), and mount-flag queries.
public enum Mounts {
    /// Options of mount(2); Linux MS_* values.
    public struct Flags: OptionSet, Sendable {
        public let rawValue: UInt
        public init(rawValue: UInt) { self.rawValue = rawValue }
        public static let readOnly = Flags(rawValue: UInt(MS_RDONLY))
        public static let noSetuid = Flags(rawValue: UInt(MS_NOSUID))
        public static let noDevices = Flags(rawValue: UInt(MS_NODEV))
        public static let noExec = Flags(rawValue: UInt(MS_NOEXEC))
        public static let remount = Flags(rawValue: UInt(MS_REMOUNT))
        public static let bind = Flags(rawValue: UInt(MS_BIND))
        public static let recursive = Flags(rawValue: UInt(MS_REC))
        public static let privatePropagation = Flags(rawValue: UInt(MS_PRIVATE))
    }

    /// mount(2).
    public static func mount(source: String, target: String, type: String?, flags: Flags, data: String? = nil) throws(SystemError) {
        let rc: Int32
        if let data {
            rc = Glibc.mount(source, target, type, flags.rawValue, data)
        } else {
            rc = Glibc.mount(source, target, type, flags.rawValue, nil)
        }
        if rc < 0 { throw SystemError("mount", path: target, errno: .current) }
    }

    /// umount2(2); `detach` = MNT_DETACH.
    public static func unmount(_ target: String, detach: Bool = false) throws(SystemError) {
        if umount2(target, detach ? Int32(MNT_DETACH) : 0) < 0 { throw SystemError("umount2", path: target, errno: .current) }
    }

    /// True if the filesystem holding `path` is mounted read-only (statvfs ST_RDONLY).
    public static func isReadOnly(_ path: String) throws(SystemError) -> Bool {
        var info = statvfs()
        if statvfs(path, &info) < 0 { throw SystemError("statvfs", path: path, errno: .current) }
        return info.f_flag & UInt(ST_RDONLY) != 0
    }

    /// Moves the calling thread into a new mount namespace whose mounts are private, so later
    /// remounts stay invisible to the rest of the system. Call it before starting threads: in a
    /// threaded process only the calling thread moves.
    public static func unsharePrivateNamespace() throws(SystemError) {
        if csandbox_unshare(0x00020000) < 0 { throw SystemError("unshare(CLONE_NEWNS)", errno: .current) }
        try mount(source: "none", target: "/", type: nil, flags: [.recursive, .privatePropagation])
    }

    /// guix-daemon's makeStoreWritable: if `store` is on a read-only mount, take a private mount
    /// namespace and remount it read-write there. Returns whether anything was done. Root only.
    @discardableResult
    public static func makeWritable(_ store: String) throws(SystemError) -> Bool {
        guard getuid() == 0, try isReadOnly(store) else { return false }
        try unsharePrivateNamespace()
        try mount(source: "none", target: store, type: nil, flags: [.remount, .bind])
        return true
    }
}
