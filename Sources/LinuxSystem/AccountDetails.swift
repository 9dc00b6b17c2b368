import Glibc

/// The whole passwd entry of an account (comment, home, shell), which `cloister setup` compares
/// with what the seed's `useradd` line asks for before deciding whether to change anything.
public struct UserAccountDetails: Hashable, Sendable {
    public let name: String
    public let uid: uid_t
    public let gid: gid_t
    /// pw_gecos: the comment (`useradd -c`).
    public let comment: String
    public let home: String
    public let shell: String

    /// getpwnam_r(3); nil if there is no such user.
    public static func named(_ name: String) throws(SystemError) -> UserAccountDetails? {
        var entry = passwd()
        var found: UnsafeMutablePointer<passwd>? = nil
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        let rc = getpwnam_r(name, &entry, &buffer, buffer.count, &found)
        if rc != 0 { throw SystemError("getpwnam_r", path: name, errno: Errno(rawValue: rc)) }
        guard found != nil else { return nil }
        func text(_ field: UnsafeMutablePointer<CChar>?) -> String { field.map { String(cString: $0) } ?? "" }
        return UserAccountDetails(name: name, uid: entry.pw_uid, gid: entry.pw_gid,
                                  comment: text(entry.pw_gecos), home: text(entry.pw_dir), shell: text(entry.pw_shell))
    }
}
