import Glibc

/// Directory operations relative to a directory descriptor. Every call names its entry by a
/// single component under an fd we hold, so a concurrent rename of a parent cannot redirect it,
/// and none of them follows a symlink at the final component.
extension FileDescriptor {
    /// The entry names of this directory (without `.` and `..`), in the kernel's order.
    public func entryNames() throws(SystemError) -> [[UInt8]] {
        try entries().map(\.name)
    }

    /// The entries of this directory (without `.` and `..`) with the inode number and type
    /// readdir reports (no stat: `.unknown` where the file system does not say), in the
    /// kernel's order. Reads through a duplicate so this descriptor stays usable; the
    /// duplicate shares the file offset, hence the rewind.
    public func entries() throws(SystemError) -> [DirectoryEntry] {
        let copy = try duplicate()
        guard let stream = fdopendir(copy.rawValue) else { throw SystemError("fdopendir", errno: .current) }
        // closedir closes the duplicate itself; the wrapper must not close it again.
        defer { closedir(stream) }
        copy.relinquish()
        rewinddir(stream)
        var entries: [DirectoryEntry] = []
        while true {
            errno = 0
            guard let entry = readdir(stream) else {
                if errno != 0 { throw SystemError("readdir", errno: .current) }
                return entries
            }
            let name: [UInt8] = withUnsafePointer(to: &entry.pointee.d_name) { tuple in
                tuple.withMemoryRebound(to: UInt8.self, capacity: 256) { chars in
                    Array(UnsafeBufferPointer(start: chars, count: strlen(UnsafeRawPointer(chars).assumingMemoryBound(to: CChar.self))))
                }
            }
            if name == [0x2E] || name == [0x2E, 0x2E] { continue }
            entries.append(DirectoryEntry(name: name, inode: UInt64(entry.pointee.d_ino), type: DirectoryEntry.type(entry.pointee.d_type)))
        }
    }

    /// `readlinkat(2)`: the target bytes of the symlink `name`.
    public func readLink(at name: [UInt8]) throws(SystemError) -> [UInt8] {
        var capacity = 256
        while true {
            let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: capacity)
            defer { buffer.deallocate() }
            let n = try withCName("readlinkat", name) { (cName) throws(SystemError) in
                try retryingSize("readlinkat", path: String(decoding: name, as: UTF8.self)) {
                    readlinkat(rawValue, cName, buffer, capacity)
                }
            }
            // A full buffer may mean truncation: grow and ask again.
            if n < capacity { return Array(UnsafeRawBufferPointer(start: buffer, count: n)) }
            capacity *= 4
            if capacity > 1 << 20 { throw SystemError("readlinkat", name: name, errno: .nameTooLong) }
        }
    }

    /// `mkdirat(2)`; fails with EEXIST if anything (even a dangling symlink) is at `name`.
    public func makeDirectory(at name: [UInt8], mode: mode_t = 0o755) throws(SystemError) {
        _ = try withCName("mkdirat", name) { (cName) throws(SystemError) in
            try retrying("mkdirat", path: String(decoding: name, as: UTF8.self)) { mkdirat(rawValue, cName, mode) }
        }
    }

    /// `symlinkat(2)`: creates `name` here pointing at `target` (bytes, stored verbatim).
    public func makeSymlink(at name: [UInt8], target: [UInt8]) throws(SystemError) {
        _ = try withCName("symlinkat", target) { (cTarget) throws(SystemError) in
            try withCName("symlinkat", name) { (cName) throws(SystemError) in
                try retrying("symlinkat", path: String(decoding: name, as: UTF8.self)) { symlinkat(cTarget, rawValue, cName) }
            }
        }
    }

    /// `unlinkat(2)`; `directory` removes an empty directory (AT_REMOVEDIR).
    public func remove(at name: [UInt8], directory: Bool = false) throws(SystemError) {
        _ = try withCName("unlinkat", name) { (cName) throws(SystemError) in
            try retrying("unlinkat", path: String(decoding: name, as: UTF8.self)) {
                unlinkat(rawValue, cName, directory ? AT_REMOVEDIR : 0)
            }
        }
    }

    /// `renameat(2)` from `name` here to `newName` under `newDirectory`.
    public func rename(at name: [UInt8], to newDirectory: FileDescriptor, _ newName: [UInt8]) throws(SystemError) {
        _ = try withCName("renameat", name) { (cOld) throws(SystemError) in
            try withCName("renameat", newName) { (cNew) throws(SystemError) in
                try retrying("renameat", path: String(decoding: name, as: UTF8.self)) {
                    renameat(rawValue, cOld, newDirectory.rawValue, cNew)
                }
            }
        }
    }

    /// `fchmod(2)`.
    public func changeMode(_ mode: mode_t) throws(SystemError) {
        _ = try retrying("fchmod") { fchmod(rawValue, mode) }
    }

    /// `fchown(2)`.
    public func changeOwner(_ owner: uid_t, _ group: gid_t) throws(SystemError) {
        _ = try retrying("fchown") { fchown(rawValue, owner, group) }
    }

    /// `futimens(2)`: sets access and modification time of this file (seconds since the epoch).
    public func setTimes(access: timespec, modification: timespec) throws(SystemError) {
        var times = (access, modification)
        _ = try withUnsafePointer(to: &times) { (pointer) throws(SystemError) in
            try pointer.withMemoryRebound(to: timespec.self, capacity: 2) { (t) throws(SystemError) in
                try retrying("futimens") { futimens(rawValue, t) }
            }
        }
    }

    /// `utimensat(2)` on `name` here without following a symlink (so it works on symlinks).
    public func setTimes(at name: [UInt8], access: timespec, modification: timespec) throws(SystemError) {
        var times = (access, modification)
        _ = try withCName("utimensat", name) { (cName) throws(SystemError) in
            try withUnsafePointer(to: &times) { (pointer) throws(SystemError) in
                try pointer.withMemoryRebound(to: timespec.self, capacity: 2) { (t) throws(SystemError) in
                    try retrying("utimensat", path: String(decoding: name, as: UTF8.self)) {
                        utimensat(rawValue, cName, t, AT_SYMLINK_NOFOLLOW)
                    }
                }
            }
        }
    }
}

/// Byte helpers for single path components.
public enum PathComponent {
    /// True if `name` can name one entry of a directory: not empty, `.`, `..`, no `/` or NUL.
    public static func isValid(_ name: [UInt8]) -> Bool {
        !name.isEmpty && name != [0x2E] && name != [0x2E, 0x2E] && !name.contains(0x2F) && !name.contains(0)
    }
}

extension FileDescriptor {
    /// Removes `name` under this directory and everything below it, fd-relative and without
    /// following symlinks (a symlink is removed, never its target). Directories are made
    /// writable first so read-only trees (store items) can go. Missing `name` is not an error.
    public func removeTree(at name: [UInt8]) throws(SystemError) {
        let status: FileStatus
        do { status = try self.status(at: name) } catch where error.errno == .noSuchFile { return }
        guard status.type == .directory else {
            try remove(at: name)
            return
        }
        let directory = try openDirectory(at: name)
        if status.permissions & 0o700 != 0o700 { try directory.changeMode(0o700) }
        for entry in try directory.entryNames() { try directory.removeTree(at: entry) }
        try directory.close()
        try remove(at: name, directory: true)
    }
}

/// One readdir(3) entry.
public struct DirectoryEntry: Hashable, Sendable {
    public let name: [UInt8]
    public let inode: UInt64
    public let type: FileStatus.FileType

    /// DT_* values (dirent.h).
    static func type(_ value: UInt8) -> FileStatus.FileType {
        switch value {
        case 8: return .regular
        case 4: return .directory
        case 10: return .symlink
        case 2: return .characterDevice
        case 6: return .blockDevice
        case 1: return .fifo
        case 12: return .socket
        default: return .unknown
        }
    }
}
