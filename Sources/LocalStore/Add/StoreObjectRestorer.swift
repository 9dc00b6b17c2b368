/// Turns NAR events into files under a directory fd (restore side of formats.md §3): regular
/// files created with openat(O_CREAT|O_EXCL|O_NOFOLLOW), directories with mkdirat and entered
/// with openat(O_NOFOLLOW|O_DIRECTORY), symlinks with symlinkat — so an entry can never be written
/// through an existing file or symlink (security.md SEC-06 (a), (d)). Names and ordering were
/// already checked by NARReader. Memory stays constant: contents go straight to the file.
///
/// With `flatContents`, the NAR must be one regular file and its contents also go to that hasher
/// (flat content addressing hashes the file's bytes, not the NAR).
import StoreFormats
import LinuxSystem

struct StoreObjectRestorer: NARVisitor {
    /// The directory that receives the top-level object, and its name there.
    let root: FileDescriptor
    let rootName: [UInt8]
    let flatContents: Hasher?
    let synchronize: Bool

    private var directories: [FileDescriptor] = []
    private var pendingName: [UInt8]?
    private var file: FileDescriptor?
    private var executable = false
    private var depth = 0
    private(set) var sawRoot = false

    init(root: FileDescriptor, name: [UInt8], flatContents: Hasher? = nil, synchronize: Bool = false) {
        self.root = root
        self.rootName = name
        self.flatContents = flatContents
        self.synchronize = synchronize
    }

    /// Where the next node goes: the top-level name, or the entry name under the open directory.
    private mutating func target() throws -> (FileDescriptor, [UInt8]) {
        if let dir = directories.last {
            guard let name = pendingName else { throw LocalStoreError.corrupt(String(decoding: rootName, as: UTF8.self), reason: "NAR node without entry") }
            return (dir, name)
        }
        guard !sawRoot else { throw LocalStoreError.corrupt(String(decoding: rootName, as: UTF8.self), reason: "second top-level NAR node") }
        sawRoot = true
        return (root, rootName)
    }

    mutating func beginRegularFile(executable: Bool, size: UInt64) throws {
        if flatContents != nil && !directories.isEmpty {
            throw LocalStoreError.corrupt(String(decoding: rootName, as: UTF8.self), reason: "flat content addressing needs a single regular file")
        }
        let (dir, name) = try target()
        file = try dir.open(at: name, [.writeOnly, .create, .exclusive, .noFollow], mode: 0o600)
        self.executable = executable
    }

    mutating func contents(_ chunk: UnsafeRawBufferPointer) throws {
        try file?.writeAll(chunk)
        flatContents?.update(chunk)
    }

    mutating func endRegularFile() throws {
        guard let file else { return }
        try file.changeMode(executable ? 0o555 : 0o444)
        if synchronize { try file.synchronize() }
        try file.close()
        self.file = nil
    }

    mutating func symlink(target linkTarget: [UInt8]) throws {
        if flatContents != nil {
            throw LocalStoreError.corrupt(String(decoding: rootName, as: UTF8.self), reason: "flat content addressing needs a regular file, not a symlink")
        }
        let (dir, name) = try target()
        try dir.makeSymlink(at: name, target: linkTarget)
    }

    mutating func beginDirectory() throws {
        if flatContents != nil {
            throw LocalStoreError.corrupt(String(decoding: rootName, as: UTF8.self), reason: "flat content addressing needs a regular file, not a directory")
        }
        let (dir, name) = try target()
        try dir.makeDirectory(at: name, mode: 0o700)
        directories.append(try dir.openDirectory(at: name))
    }

    mutating func beginEntry(name: [UInt8]) throws { pendingName = name }
    mutating func endEntry() throws { pendingName = nil }

    mutating func endDirectory() throws {
        guard let dir = directories.popLast() else { return }
        if synchronize { try dir.synchronize() }
        try dir.changeMode(0o555)
        try dir.close()
    }
}
