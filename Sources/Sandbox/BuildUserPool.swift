import LinuxSystem

/// Root mode's pool of build users (guix-daemon.md §2): the explicit members of the build group,
/// in listed order, each guarded by a lock file `<lockDirectory>/<uid>` (guix-daemon:
/// /var/guix/userpool). The first member whose lock is free is taken; the lock is held until
/// `release()` (or until the `BuildUser` goes). Locks are open-file-description locks, so two
/// builds of one daemon process exclude each other as two daemon processes do.
public struct BuildUserPool: Sendable {
    public let groupName: String
    public let lockDirectory: String

    public init(groupName: String, lockDirectory: String = "/var/guix/userpool") {
        self.groupName = groupName
        self.lockDirectory = lockDirectory
    }

    /// Takes a free build user, with guix-daemon's errors when none can be had.
    public func acquire() throws(SandboxError) -> BuildUser {
        let group: GroupAccount
        do {
            guard let found = try GroupAccount.named(groupName) else {
                throw SandboxError.buildUserPool(reason: "the group `\(groupName)' specified in `build-users-group' does not exist")
            }
            group = found
        } catch let error as SandboxError {
            throw error
        } catch {
            throw .buildUserPool(reason: "\(error)")
        }
        if group.members.isEmpty { throw .buildUserPool(reason: "the build users group `\(groupName)' has no members") }

        let directory: FileDescriptor
        do {
            var prefix = ""
            for component in lockDirectory.split(separator: "/") {
                prefix += "/" + component
                try? FileDescriptor.currentDirectory.makeDirectory(at: Array(prefix.utf8), mode: 0o755)
            }
            directory = try FileDescriptor.open(lockDirectory, [.readOnly, .directory])
        } catch {
            throw .buildUserPool(reason: "cannot open the build user lock directory: \(error)")
        }
        for member in group.members {
            let account: UserAccount
            do {
                guard let found = try UserAccount.named(member) else {
                    throw SandboxError.buildUserPool(reason: "the user `\(member)' in the group `\(groupName)' does not exist")
                }
                account = found
            } catch let error as SandboxError {
                throw error
            } catch {
                throw .buildUserPool(reason: "\(error)")
            }
            if account.uid == ProcessIdentity.userID || account.uid == ProcessIdentity.effectiveUserID {
                throw .buildUserPool(reason: "the build user should not be a member of `\(groupName)'")
            }
            do {
                let lock = try directory.open(at: String(account.uid), [.readWrite, .create], mode: 0o600)
                guard try lock.lock(.write, wait: false) else { continue }
                // From here the lock must be released explicitly (see BuildUser.release).
                let groups: [UInt32]
                do { groups = try account.groupList() } catch {
                    try? lock.unlock()
                    throw error
                }
                return BuildUser(name: member, uid: account.uid, gid: group.gid, supplementaryGroups: groups, lock: lock)
            } catch {
                throw .buildUserPool(reason: "cannot lock build user `\(member)': \(error)")
            }
        }
        throw .buildUserPool(reason: "all build users are currently in use; consider creating additional users and adding them to the `\(groupName)' group")
    }
}

/// One acquired build user: uid = the member's, gid = the build group's (not the member's
/// primary group), supplementary groups from getgrouplist (typically the build group and kvm).
public final class BuildUser: @unchecked Sendable {
    public let name: String
    public let uid: UInt32
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

    public var identity: SandboxIdentity {
        .buildUser(uid: uid, gid: gid, supplementaryGroups: supplementaryGroups)
    }

    /// SIGKILL every process running as this user (before and after each build: no process may
    /// outlive its build, security.md P-1.2).
    public func killProcesses() throws(SandboxError) {
        do { try killUser(uid) } catch { throw .system(error) }
    }

    /// Frees the user for the next build. Unlock explicitly before closing: an OFD lock belongs
    /// to the open file description, which a concurrently spawned child may still share for a
    /// moment (its copy of our fd table, before exec); only an explicit unlock ends the lock
    /// whatever copies exist.
    public func release() {
        try? lock?.unlock()
        try? lock?.close()
        lock = nil
    }

    deinit { release() }
}
