import Glibc

/// One entry of the user database (passwd): the ids build users need, plus comment, home and
/// shell, which `cloister setup` compares with what the seed's `useradd` line asks for before
/// deciding whether to change anything.
public struct UserAccount: Hashable, Sendable {
    public let name: String
    public let uid: uid_t
    /// The primary group of the account (not necessarily the build group).
    public let gid: gid_t
    /// pw_gecos: the comment (`useradd -c`).
    public let comment: String
    public let home: String
    public let shell: String

    /// getpwnam_r(3); nil if there is no such user.
    public static func named(_ name: String) throws(SystemError) -> UserAccount? {
        var entry = passwd()
        var found: UnsafeMutablePointer<passwd>? = nil
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        let rc = getpwnam_r(name, &entry, &buffer, buffer.count, &found)
        if rc != 0 { throw SystemError("getpwnam_r", path: name, errno: Errno(rawValue: rc)) }
        guard found != nil else { return nil }
        func text(_ field: UnsafeMutablePointer<CChar>?) -> String { field.map { String(cString: $0) } ?? "" }
        return UserAccount(name: name, uid: entry.pw_uid, gid: entry.pw_gid,
                           comment: text(entry.pw_gecos), home: text(entry.pw_dir), shell: text(entry.pw_shell))
    }

    /// getgrouplist(3): every group the account belongs to, its primary group first.
    public func groupList() throws(SystemError) -> [gid_t] {
        var count: Int32 = 64
        while true {
            var groups = [gid_t](repeating: 0, count: Int(count))
            var n = count
            if getgrouplist(name, gid, &groups, &n) >= 0 { return Array(groups.prefix(Int(n))) }
            if n <= count || n > 65536 { throw SystemError("getgrouplist", path: name, errno: .invalidArgument) }
            count = n
        }
    }
}

/// One entry of the group database, with its explicit members in listed order.
public struct GroupAccount: Hashable, Sendable {
    public let name: String
    public let gid: gid_t
    public let members: [String]

    /// getgrnam_r(3); nil if there is no such group.
    public static func named(_ name: String) throws(SystemError) -> GroupAccount? {
        var entry = group()
        var found: UnsafeMutablePointer<group>? = nil
        var size = 16 * 1024
        while true {
            var buffer = [CChar](repeating: 0, count: size)
            let rc = getgrnam_r(name, &entry, &buffer, buffer.count, &found)
            if rc == ERANGE && size < 1 << 22 { size *= 4; continue }
            if rc != 0 { throw SystemError("getgrnam_r", path: name, errno: Errno(rawValue: rc)) }
            guard found != nil else { return nil }
            var members: [String] = []
            if var cursor = entry.gr_mem {
                while let member = cursor.pointee {
                    members.append(String(cString: member))
                    cursor += 1
                }
            }
            return GroupAccount(name: name, gid: entry.gr_gid, members: members)
        }
    }
}
