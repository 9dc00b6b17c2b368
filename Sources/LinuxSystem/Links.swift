import Glibc
import CSandbox

/// Hard links, ownership of entries and no-replace renames, fd-relative like Directory.swift:
/// each names a single component under a directory fd we hold and never follows a symlink at it
/// (security.md SEC-10, SEC-27).
extension FileDescriptor {
    /// `linkat(2)`: a new name `newName` under `newDirectory` for the file `name` here (a
    /// symlink at `name` is linked itself, not followed).
    public func link(at name: [UInt8], to newDirectory: FileDescriptor, _ newName: [UInt8]) throws(SystemError) {
        _ = try withCName("linkat", name) { (cOld) throws(SystemError) in
            try withCName("linkat", newName) { (cNew) throws(SystemError) in
                try retrying("linkat", path: String(decoding: newName, as: UTF8.self)) {
                    linkat(rawValue, cOld, newDirectory.rawValue, cNew, 0)
                }
            }
        }
    }

    /// `fchownat(2)` with AT_SYMLINK_NOFOLLOW: changes the owner of the entry itself.
    public func changeOwner(at name: [UInt8], _ owner: uid_t, _ group: gid_t) throws(SystemError) {
        _ = try withCName("fchownat", name) { (cName) throws(SystemError) in
            try retrying("fchownat", path: String(decoding: name, as: UTF8.self)) {
                fchownat(rawValue, cName, owner, group, AT_SYMLINK_NOFOLLOW)
            }
        }
    }

    /// `fchmodat(2)` with AT_SYMLINK_NOFOLLOW on `name` here (glibc ≥ 2.32 does this through an
    /// O_PATH fd, so it works on unreadable files); a symlink fails with EOPNOTSUPP.
    public func changeMode(at name: [UInt8], _ mode: mode_t) throws(SystemError) {
        _ = try withCName("fchmodat", name) { (cName) throws(SystemError) in
            try retrying("fchmodat", path: String(decoding: name, as: UTF8.self)) {
                fchmodat(rawValue, cName, mode, AT_SYMLINK_NOFOLLOW)
            }
        }
    }

    /// `renameat2(2)` with RENAME_NOREPLACE: fails with EEXIST instead of replacing `newName`.
    public func renameNoReplace(at name: [UInt8], to newDirectory: FileDescriptor, _ newName: [UInt8]) throws(SystemError) {
        try rename2(at: name, to: newDirectory, newName, flags: cloister_rename_noreplace())
    }

    /// `renameat2(2)` with RENAME_EXCHANGE: swaps the two entries atomically.
    public func exchange(at name: [UInt8], with newDirectory: FileDescriptor, _ newName: [UInt8]) throws(SystemError) {
        try rename2(at: name, to: newDirectory, newName, flags: cloister_rename_exchange())
    }

    private func rename2(at name: [UInt8], to newDirectory: FileDescriptor, _ newName: [UInt8], flags: UInt32) throws(SystemError) {
        _ = try withCName("renameat2", name) { (cOld) throws(SystemError) in
            try withCName("renameat2", newName) { (cNew) throws(SystemError) in
                try retrying("renameat2", path: String(decoding: newName, as: UTF8.self)) {
                    cloister_renameat2(rawValue, cOld, newDirectory.rawValue, cNew, flags)
                }
            }
        }
    }
}

extension FileDescriptor {
    /// Sets this file's mtime to `seconds`, leaving its atime (UTIME_OMIT).
    public func setModificationTime(_ seconds: Int64) throws(SystemError) {
        try setTimes(access: timespec(tv_sec: 0, tv_nsec: (1 << 30) - 2 /* UTIME_OMIT */), modification: timespec(tv_sec: Int(seconds), tv_nsec: 0))
    }

    /// Sets the mtime of `name` here (a symlink itself, not its target), leaving its atime.
    public func setModificationTime(at name: [UInt8], _ seconds: Int64) throws(SystemError) {
        try setTimes(at: name, access: timespec(tv_sec: 0, tv_nsec: (1 << 30) - 2 /* UTIME_OMIT */), modification: timespec(tv_sec: Int(seconds), tv_nsec: 0))
    }
}
