import Glibc

/// What `fstat`/`fstatat` report about one file, in named fields.
public struct FileStatus: Hashable, Sendable {
    public enum FileType: Hashable, Sendable {
        case regular, directory, symlink, characterDevice, blockDevice, fifo, socket, unknown
    }

    public let type: FileType
    /// Permission bits including setuid/setgid/sticky (mode & 0o7777).
    public let permissions: mode_t
    public let size: Int64
    public let device: UInt64
    public let inode: UInt64
    public let linkCount: UInt64
    public let owner: uid_t
    public let group: gid_t
    public let modificationSeconds: Int64
    public let modificationNanoseconds: Int64
    /// Status change time (ctime): any change to the inode, entries of a directory included.
    public let changeSeconds: Int64
    public let changeNanoseconds: Int64
    /// 512-byte blocks allocated.
    public let blocks: Int64

    /// Owner-execute: the one permission bit a NAR records.
    public var isOwnerExecutable: Bool { permissions & 0o100 != 0 }

    init(_ st: stat) {
        // S_IF* are macros Swift does not import; these are the POSIX values.
        switch st.st_mode & 0o170000 {
        case 0o100000: type = .regular
        case 0o040000: type = .directory
        case 0o120000: type = .symlink
        case 0o020000: type = .characterDevice
        case 0o060000: type = .blockDevice
        case 0o010000: type = .fifo
        case 0o140000: type = .socket
        default: type = .unknown
        }
        permissions = st.st_mode & 0o7777
        size = Int64(st.st_size)
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        linkCount = UInt64(st.st_nlink)
        owner = st.st_uid
        group = st.st_gid
        modificationSeconds = Int64(st.st_mtim.tv_sec)
        modificationNanoseconds = Int64(st.st_mtim.tv_nsec)
        changeSeconds = Int64(st.st_ctim.tv_sec)
        changeNanoseconds = Int64(st.st_ctim.tv_nsec)
        blocks = Int64(st.st_blocks)
    }
}

extension FileDescriptor {
    /// `fstat(2)` of this descriptor.
    public func status() throws(SystemError) -> FileStatus {
        var st = stat()
        _ = try retrying("fstat") { fstat(rawValue, &st) }
        return FileStatus(st)
    }

    /// `fstatat(2)` of `name` under this directory, never following a symlink at `name`.
    public func status(at name: [UInt8]) throws(SystemError) -> FileStatus {
        var st = stat()
        _ = try withCName("fstatat", name) { (cName) throws(SystemError) in
            try retrying("fstatat", path: String(decoding: name, as: UTF8.self)) {
                fstatat(rawValue, cName, &st, AT_SYMLINK_NOFOLLOW)
            }
        }
        return FileStatus(st)
    }

    public func status(at name: String) throws(SystemError) -> FileStatus {
        try status(at: Array(name.utf8))
    }
}
