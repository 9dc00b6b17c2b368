/// Canonicalisation of a new store object (guix-daemon.md §4.3, formats.md §2.6, security.md
/// P-5): only regular files, directories and symlinks; every non-symlink ends mode 0444, or 0555
/// if the owner could execute it (directories thus 0555), without setuid/setgid/sticky or write
/// bits; mtime 1 (atime kept); owned by the daemon's effective uid/gid.
///
/// Build outputs of a pool-mode build (`BuildOwnership`): every entry must belong to the build
/// user, looked at before anything of it is changed, else ``invalid ownership on file `P'``.
/// Otherwise a builder could hard-link a file of someone else (or let another user drop one in
/// a world-writable subdirectory) and have the daemon chmod, chown and register it. A file
/// already canonicalised in this build (same device and inode: a hard link within or among the
/// outputs) is the daemon's by then and is left as it is.
///
/// The walk goes through directory fds only (security.md SEC-10/SEC-27): each entry is named by
/// one component under a directory fd we hold, looked at with fstatat(AT_SYMLINK_NOFOLLOW), and
/// changed with fchmodat/utimensat/fchownat(AT_SYMLINK_NOFOLLOW); directories are entered with
/// openat(O_NOFOLLOW|O_DIRECTORY). A racer swapping an entry for a symlink can at worst make us
/// change the symlink itself, never its target.
import LinuxSystem

enum Canonicaliser {
    /// mtime of every store object: 1 s after the epoch.
    static let storeTime: Int64 = 1

    /// Canonicalises `name` under `parent` and everything below it. `displayPath` is for errors.
    static func canonicalise(in parent: FileDescriptor, name: [UInt8], displayPath: String,
                             ownership: BuildOwnership? = nil) throws(LocalStoreError) {
        let owner = (ProcessIdentity.effectiveUserID, ProcessIdentity.effectiveGroupID)
        do { try walk(parent, name, displayPath, owner, ownership) } catch let error as LocalStoreError { throw error }
        catch let error as SystemError { throw .system(error) }
        catch { throw .corrupt(displayPath, reason: "\(error)") }
    }

    private static func walk(_ parent: FileDescriptor, _ name: [UInt8], _ display: String, _ owner: (UInt32, UInt32),
                             _ ownership: BuildOwnership?) throws {
        let status = try parent.status(at: name)
        if let ownership {
            let identity = BuildOwnership.FileIdentity(device: status.device, inode: status.inode)
            if status.owner != ownership.buildUID {
                guard status.type != .directory, ownership.seen.contains(identity) else {
                    throw LocalStoreError.invalidOwnership(display)
                }
                return
            }
            ownership.seen.insert(identity)
        }
        switch status.type {
        case .symlink:
            try fix(status, parent: parent, name: name, fd: nil, owner: owner)
        case .regular:
            try fix(status, parent: parent, name: name, fd: nil, owner: owner)
        case .directory:
            let directory = try parent.openDirectory(at: name)
            // Re-check through the fd we now hold: it is what we will change.
            let held = try directory.status()
            guard held.inode == status.inode, held.device == status.device else {
                throw LocalStoreError.corrupt(display, reason: "changed while being canonicalised")
            }
            // Make sure we can list and enter it before fixing its mode to 0555.
            if held.permissions & 0o500 != 0o500 && held.owner == owner.0 { try directory.changeMode(held.permissions | 0o500) }
            for entry in try directory.entryNames() {
                try walk(directory, entry, display + "/" + String(decoding: entry, as: UTF8.self), owner, ownership)
            }
            try fix(held, parent: parent, name: name, fd: directory, owner: owner)
        default:
            throw LocalStoreError.unsupportedFileType(display)
        }
    }

    /// Mode, owner, then time (chmod/chown change ctime only, but keep the order Guix uses).
    private static func fix(_ status: FileStatus, parent: FileDescriptor, name: [UInt8], fd: FileDescriptor?,
                            owner: (UInt32, UInt32)) throws {
        if status.type != .symlink {
            let mode = status.permissions
            if mode != 0o444 && mode != 0o555 {
                let canonical: UInt32 = 0o444 | (status.isOwnerExecutable ? 0o111 : 0)
                if let fd { try fd.changeMode(canonical) } else { try parent.changeMode(at: name, canonical) }
            }
        }
        if status.owner != owner.0 {
            if let fd { try fd.changeOwner(owner.0, owner.1) } else { try parent.changeOwner(at: name, owner.0, owner.1) }
        }
        if status.modificationSeconds != storeTime || status.modificationNanoseconds != 0 {
            if let fd { try fd.setModificationTime(storeTime) } else { try parent.setModificationTime(at: name, storeTime) }
        }
    }
}

/// The build user whose files a pool-mode build's outputs must consist of, and the files
/// canonicalised so far in this build (shared by all its outputs, as guix-daemon's `inodesSeen`).
public final class BuildOwnership: @unchecked Sendable {
    struct FileIdentity: Hashable {
        let device: UInt64
        let inode: UInt64
    }

    public let buildUID: UInt32
    var seen: Set<FileIdentity> = []

    public init(buildUID: UInt32) { self.buildUID = buildUID }
}
