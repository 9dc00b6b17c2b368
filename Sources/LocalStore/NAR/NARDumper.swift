import LinuxSystem
import StoreFormats

/// Serialises a file tree as NAR events (formats.md §3.2), fd-relative and without following
/// symlinks: each directory is opened with O_DIRECTORY|O_NOFOLLOW under its parent's fd, each
/// file with O_NOFOLLOW|O_NONBLOCK (a FIFO swapped in cannot block us) and re-checked with fstat,
/// so renames or symlink swaps during the walk cannot lead it outside the tree. Only regular
/// files, directories and symlinks are accepted; only the owner-execute bit is recorded;
/// entries go out in byte order. Contents stream through one buffer: memory is constant.
public final class NARDumper {
    private let buffer: UnsafeMutableRawBufferPointer

    public init(bufferSize: Int = 1 << 20) {
        buffer = .allocate(byteCount: max(bufferSize, 4096), alignment: 64)
    }

    deinit { buffer.deallocate() }

    /// Dumps `path` (absolute or relative to the working directory; a symlink at `path` itself
    /// is dumped as a symlink) into `visitor`.
    public static func dump<Visitor: NARVisitor>(path: String, into visitor: inout Visitor, bufferSize: Int = 1 << 20) throws {
        try NARDumper(bufferSize: bufferSize).dump(at: Array(path.utf8), in: .currentDirectory, displayPath: path, into: &visitor)
    }

    /// The NAR bytes of `path` written to `sink`; returns the sink and the NAR size.
    public static func dump<Sink: NARSink>(path: String, to sink: Sink) throws -> (sink: Sink, size: UInt64) {
        var writer = NARWriter(sink: sink)
        try dump(path: path, into: &writer)
        return (writer.sink, writer.bytesWritten)
    }

    /// Hash and size of the NAR of `path`, computed while streaming.
    public static func hash(path: String, algorithm: HashAlgorithm = .sha256) throws -> (hash: Hash, size: UInt64) {
        let (hasher, size) = try dump(path: path, to: Hasher(algorithm))
        return (hasher.finish(), size)
    }

    /// Dumps the entry `name` of `directory` (`name` may have several components only at the
    /// top level, where the caller's path is trusted up to its last component).
    public func dump<Visitor: NARVisitor>(at name: [UInt8], in directory: FileDescriptor, displayPath: String, into visitor: inout Visitor) throws {
        let status = try narSystemCall { () throws(SystemError) in try directory.status(at: name) }
        switch status.type {
        case .symlink:
            let target = try narSystemCall { () throws(SystemError) in try directory.readLink(at: name) }
            try visitor.symlink(target: target)
        case .regular:
            let file = try narSystemCall { () throws(SystemError) in try directory.open(at: name, [.readOnly, .noFollow, .nonBlocking]) }
            try dumpFile(file, displayPath: displayPath, into: &visitor)
        case .directory:
            let child = try narSystemCall { () throws(SystemError) in try directory.openDirectory(at: name) }
            try dumpDirectory(child, displayPath: displayPath, into: &visitor)
        default:
            throw LocalStoreError.unsupportedFileType(displayPath)
        }
    }

    private func dumpFile<Visitor: NARVisitor>(_ file: FileDescriptor, displayPath: String, into visitor: inout Visitor) throws {
        // The type and size that count are those of the file we actually opened.
        let status = try narSystemCall { () throws(SystemError) in try file.status() }
        guard status.type == .regular else { throw LocalStoreError.unsupportedFileType(displayPath) }
        let size = UInt64(status.size)
        try visitor.beginRegularFile(executable: status.isOwnerExecutable, size: size)
        var remaining = size
        while remaining > 0 {
            let want = remaining < UInt64(buffer.count) ? Int(remaining) : buffer.count
            let piece = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want])
            let n = try narSystemCall { () throws(SystemError) in try file.read(into: piece) }
            guard n > 0 else { throw LocalStoreError.corrupt(displayPath, reason: "file shrank while being serialised") }
            try visitor.contents(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            remaining -= UInt64(n)
        }
        try visitor.endRegularFile()
    }

    private func dumpDirectory<Visitor: NARVisitor>(_ directory: FileDescriptor, displayPath: String, into visitor: inout Visitor) throws {
        let names = try narSystemCall { () throws(SystemError) in try directory.entryNames() }
            .sorted { $0.lexicographicallyPrecedes($1) }
        try visitor.beginDirectory()
        for name in names {
            try visitor.beginEntry(name: name)
            let child = displayPath + "/" + String(decoding: name, as: UTF8.self)
            try dump(at: name, in: directory, displayPath: child, into: &visitor)
            try visitor.endEntry()
        }
        try visitor.endDirectory()
    }
}

/// Runs a LinuxSystem call, reporting its failure as a LocalStoreError.
@inline(__always)
func narSystemCall<T>(_ body: () throws(SystemError) -> T) throws(LocalStoreError) -> T {
    do { return try body() } catch { throw .system(error) }
}
