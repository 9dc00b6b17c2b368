import LinuxSystem
import StoreFormats

/// A file descriptor as a NAR byte source: one `read(2)` per call, never more than asked, so a
/// NAR reader on a socket stops exactly at the NAR's end.
public struct FileDescriptorSource: NARByteSource {
    public let descriptor: FileDescriptor
    public init(_ descriptor: FileDescriptor) { self.descriptor = descriptor }
    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try descriptor.read(into: buffer)
    }
}

/// A file descriptor as a NAR sink: every byte written, short writes retried.
public struct FileDescriptorSink: NARSink {
    public let descriptor: FileDescriptor
    public init(_ descriptor: FileDescriptor) { self.descriptor = descriptor }
    public mutating func write(_ bytes: UnsafeRawBufferPointer) throws {
        try descriptor.writeAll(bytes)
    }
}
