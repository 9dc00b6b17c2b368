/// The build-user pool of a root daemon with `--build-users-group=G` (guix-daemon.md §2):
/// candidates are the group's explicit members in listed order; a user is taken by
/// write-locking `<stateDir>/userpool/<uid>` (OFD lock, so threads of one daemon exclude each
/// other as processes do); the lock file is never deleted, closing it releases the user.
/// uid = the member's, gid = the build group's, supplementary groups = getgrouplist (kvm...).
/// Every process of the user is killed before the build and after it (SEC-04).
import LinuxSystem
import LocalStore

/// One acquired build user; releasing (or dropping) it frees the slot.
public final class BuildUser: @unchecked Sendable {
    public let name: String
    public let uid: UInt32
    /// The build group's gid (not the member's primary group).
    public let gid: UInt32
    public let supplementaryGroups: [UInt32]
    private var lock: FileDescriptor?

    init(name: String, uid: UInt32, gid: UInt32, supplementaryGroups: [UInt32], lock: FileDescriptor) {
        self.name = name
        self.uid = uid
        self.gid = gid
        self.supplementaryGroups = supplementaryGroups
        self.lock = lock
    }

    /// SIGKILLs every process running as this user (guix-daemon killUser).
    public func killProcesses() throws(BuildError) {
        do { try killUser(uid) } catch { throw .system(error) }
    }

    public func release() {
        // Unlock before closing: an OFD lock belongs to the open file description, which a
        // child being spawned on another thread may still share (its fd-table copy, before
        // exec); only an explicit unlock ends the lock whatever copies exist.
        try? lock?.unlock()
        try? lock?.close()
        lock = nil
    }

    deinit { release() }
}

public struct BuildUserPool: Sendable {
    public let groupName: String
    public let directory: String

    public init(groupName: String, directory: String) {
        self.groupName = groupName
        self.directory = directory
    }

    /// Takes the first free member, or fails with Guix's message. `daemonUID` is refused as a
    /// build user (a build must never run as the daemon).
    public func acquire(daemonUID: UInt32 = ProcessIdentity.userID,
                        daemonEUID: UInt32 = ProcessIdentity.effectiveUserID) throws(BuildError) -> BuildUser {
        let group: GroupAccount
        do {
            guard let found = try GroupAccount.named(groupName) else {
                throw BuildError.misc("the group `\(groupName)' specified in `build-users-group' does not exist")
            }
            group = found
        } catch let error as BuildError { throw error } catch { throw .misc("\(error)") }
        if group.members.isEmpty { throw .misc("the build users group `\(groupName)' has no members") }
        do { try HostPath.makeDirectories(directory) } catch { throw .system(error) }

        for member in group.members {
            let account: UserAccount
            do {
                guard let found = try UserAccount.named(member) else {
                    throw BuildError.misc("the user `\(member)' in the group `\(groupName)' does not exist")
                }
                account = found
            } catch let error as BuildError { throw error } catch { throw .misc("\(error)") }
            let file = directory + "/\(account.uid)"
            let fd: FileDescriptor
            do {
                fd = try FileDescriptor.open(file, [.readWrite, .create], mode: 0o600)
                guard try fd.lock(.write, wait: false) else { continue }
            } catch { throw .system(error) }
            if account.uid == daemonUID || account.uid == daemonEUID {
                throw .misc("the build user should not be a member of `\(groupName)'")
            }
            let groups: [UInt32]
            do { groups = try account.groupList() } catch { throw .system(error) }
            return BuildUser(name: account.name, uid: account.uid, gid: group.gid,
                             supplementaryGroups: groups.filter { $0 != group.gid }, lock: fd)
        }
        throw .misc("all build users are currently in use; consider creating additional users and adding them to the `\(groupName)' group")
    }
}
