/// Serialises a file-system object as NAR events (formats.md §3.2), reading through directory fds
/// only: entries in byte order, regular files streamed in 64 KiB chunks (constant memory), only
/// the owner-execute bit recorded. Used to recompute NAR hashes (verify, deduplication keys).
import StoreFormats
import LinuxSystem

enum StoreObjectDumper {
    static func dump<Visitor: NARVisitor>(in parent: FileDescriptor, name: [UInt8], into visitor: inout Visitor) throws {
        let status = try parent.status(at: name)
        switch status.type {
        case .regular:
            let file = try parent.open(at: name, [.readOnly, .noFollow])
            try dumpFile(file, size: status.size, executable: status.isOwnerExecutable, into: &visitor)
        case .symlink:
            try visitor.symlink(target: try parent.readLink(at: name))
        case .directory:
            let directory = try parent.openDirectory(at: name)
            try visitor.beginDirectory()
            for entry in try directory.entryNames().sorted(by: { $0.lexicographicallyPrecedes($1) }) {
                try visitor.beginEntry(name: entry)
                try dump(in: directory, name: entry, into: &visitor)
                try visitor.endEntry()
            }
            try visitor.endDirectory()
        default:
            throw LocalStoreError.unsupportedFileType(String(decoding: name, as: UTF8.self))
        }
    }

    static func dumpFile<Visitor: NARVisitor>(_ file: FileDescriptor, size: Int64, executable: Bool, into visitor: inout Visitor) throws {
        try visitor.beginRegularFile(executable: executable, size: UInt64(size))
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 8)
        defer { buffer.deallocate() }
        var remaining = size
        while remaining > 0 {
            let n = try file.read(into: buffer)
            // A file that shrank under us cannot yield the NAR its header promised.
            guard n > 0 else { throw LocalStoreError.corrupt("\(file.rawValue)", reason: "file shrank while being read") }
            let take = min(Int64(n), remaining)
            try visitor.contents(UnsafeRawBufferPointer(rebasing: buffer[0..<Int(take)]))
            remaining -= take
        }
        try visitor.endRegularFile()
    }

    /// SHA-256 and size of the NAR of `name` under `parent`.
    static func narHash(in parent: FileDescriptor, name: [UInt8]) throws -> (hash: Hash, size: UInt64) {
        var writer = NARWriter(sink: Hasher(.sha256))
        try dump(in: parent, name: name, into: &writer)
        try writer.flush()
        return (writer.sink.finish(), writer.bytesWritten)
    }
}
