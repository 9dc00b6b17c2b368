/// NAR hashes of objects in the store, through NARDumper (fd-relative, no symlink following).
import StoreFormats
import LinuxSystem

enum StoreObjectDumper {
    static func dump<Visitor: NARVisitor>(in parent: FileDescriptor, name: [UInt8], into visitor: inout Visitor) throws {
        try NARDumper().dump(at: name, in: parent, displayPath: String(decoding: name, as: UTF8.self), into: &visitor)
    }

    /// SHA-256 and size of the NAR of `name` under `parent`.
    static func narHash(in parent: FileDescriptor, name: [UInt8]) throws -> (hash: Hash, size: UInt64) {
        var writer = NARWriter(sink: Hasher(.sha256))
        try dump(in: parent, name: name, into: &writer)
        try writer.flush()
        return (writer.sink.finish(), writer.bytesWritten)
    }
}
