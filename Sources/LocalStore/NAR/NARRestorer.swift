import LinuxSystem
import StoreFormats

/// A NAR visitor that creates the tree it is fed under a new path (security.md §3.1): every
/// entry is created relative to its parent's directory fd, files with
/// O_CREAT|O_EXCL|O_NOFOLLOW, directories with mkdirat, symlinks with symlinkat, so nothing
/// existing is overwritten and no symlink (even one the NAR itself just created) is followed.
/// Files get 0644, or 0755 if executable; the store's canonicalisation sets final modes.
/// Contents are written as they stream in.
///
/// With `canonicalMetadata` (new store objects), each node gets its final store metadata as it
/// is completed instead (formats.md §2.6): files 0444/0555 from creation (the open fd still
/// writes), mtime 1 before closing; directories 0555 and mtime 1 once their last entry is in;
/// symlinks mtime 1. The store's canonicaliser then finds nothing to change — one pass over
/// the metadata instead of two.
public struct NARRestorer: NARVisitor {
    /// Give every node its final store metadata as it is completed (see above).
    public var canonicalMetadata = false
    private var directories: [FileDescriptor]
    private var pendingName: [UInt8]
    private var file: FileDescriptor?
    /// Whether the root node has been fully restored (the restorer creates exactly one).
    public private(set) var isComplete = false
    /// Whether the root entry was created by us (so `discard()` may remove it).
    public private(set) var createdRoot = false
    private let rootParent: FileDescriptor
    private let rootName: [UInt8]

    /// Prepares to create `path`, which must not exist; its parent must.
    public init(creating path: String) throws {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        let parent: String
        let name: Substring
        if let slash = trimmed.lastIndex(of: "/") {
            parent = slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
            name = trimmed[trimmed.index(after: slash)...]
        } else {
            parent = "."
            name = trimmed
        }
        let nameBytes = Array(name.utf8)
        if let problem = NAR.problem(withName: nameBytes) {
            throw LocalStoreError.invalidConfiguration("restore destination", reason: "'\(path)': \(problem)")
        }
        let parentDirectory = try narSystemCall { () throws(SystemError) in try FileDescriptor.currentDirectory.openDirectory(at: Array(parent.utf8)) }
        self.init(in: parentDirectory, name: nameBytes)
    }

    /// Prepares to create the entry `name` of `directory`.
    public init(in directory: FileDescriptor, name: [UInt8]) {
        directories = [directory]
        pendingName = name
        rootParent = directory
        rootName = name
    }

    /// Removes whatever this restorer created (after a failure), never anything that was there
    /// before: if the root could not be created, nothing is touched.
    public mutating func discard() throws {
        file = nil
        directories.removeSubrange(1...)
        guard createdRoot else { return }
        createdRoot = false
        let (parent, name) = (rootParent, rootName)
        try narSystemCall { () throws(SystemError) in try parent.removeTree(at: name) }
    }

    private var parent: FileDescriptor { directories[directories.count - 1] }

    /// The directory holding the node last begun, and that node's name (valid after its end
    /// too, until the next entry begins): where a completed file can be found again.
    public var currentParent: FileDescriptor { parent }
    public var currentName: [UInt8] { pendingName }
    /// Whether the node last begun is the root (not inside a directory of the NAR).
    public var atRoot: Bool { directories.count == 1 }

    private func checkedName() throws -> [UInt8] {
        // The reader validates names already; a visitor can be driven by other producers.
        if let problem = NAR.problem(withName: pendingName) { throw FormatError.invalidNAR(offset: 0, reason: problem) }
        return pendingName
    }

    private mutating func nodeDone() {
        if directories.count == 1 { isComplete = true }
    }

    public mutating func beginRegularFile(executable: Bool, size: UInt64) throws {
        let name = try checkedName()
        let parent = self.parent
        let mode: UInt32 = canonicalMetadata ? (executable ? 0o555 : 0o444) : (executable ? 0o755 : 0o644)
        let created = try narSystemCall { () throws(SystemError) in
            try parent.open(at: name, [.writeOnly, .create, .exclusive, .noFollow], mode: mode)
        }
        if directories.count == 1 { createdRoot = true }
        // Explicit chmod: the creation mode is filtered by the umask.
        try narSystemCall { () throws(SystemError) in try created.changeMode(mode) }
        file = created
    }

    public mutating func contents(_ chunk: UnsafeRawBufferPointer) throws {
        guard let file else { throw FormatError.invalidNAR(offset: 0, reason: "contents outside a file") }
        try narSystemCall { () throws(SystemError) in try file.writeAll(chunk) }
    }

    public mutating func endRegularFile() throws {
        guard let done = file else { throw FormatError.invalidNAR(offset: 0, reason: "end of a file outside one") }
        file = nil
        let canonical = canonicalMetadata
        try narSystemCall { () throws(SystemError) in
            if canonical { try done.setModificationTime(Canonicaliser.storeTime) }
            try done.close()
        }
        nodeDone()
    }

    public mutating func symlink(target: [UInt8]) throws {
        let name = try checkedName()
        let parent = self.parent
        try narSystemCall { () throws(SystemError) in try parent.makeSymlink(at: name, target: target) }
        if directories.count == 1 { createdRoot = true }
        if canonicalMetadata {
            try narSystemCall { () throws(SystemError) in try parent.setModificationTime(at: name, Canonicaliser.storeTime) }
        }
        nodeDone()
    }

    public mutating func beginDirectory() throws {
        let name = try checkedName()
        let parent = self.parent
        try narSystemCall { () throws(SystemError) in try parent.makeDirectory(at: name, mode: 0o755) }
        if directories.count == 1 { createdRoot = true }
        let child = try narSystemCall { () throws(SystemError) in try parent.openDirectory(at: name) }
        directories.append(child)
    }

    public mutating func beginEntry(name: [UInt8]) throws { pendingName = name }

    public mutating func endEntry() throws {}

    public mutating func endDirectory() throws {
        guard directories.count > 1 else { throw FormatError.invalidNAR(offset: 0, reason: "end of a directory outside one") }
        let done = directories.removeLast()
        let canonical = canonicalMetadata
        try narSystemCall { () throws(SystemError) in
            if canonical {
                try done.changeMode(0o555)
                try done.setModificationTime(Canonicaliser.storeTime)
            }
            try done.close()
        }
        nodeDone()
    }
}
