/// The event protocols NAR producers and consumers meet at. A NAR is a sequence of events:
///
///     file:      beginRegularFile(executable:size:) contents(…)* endRegularFile()
///     symlink:   symlink(target:)
///     directory: beginDirectory() { beginEntry(name:) <node> endEntry() } endDirectory()
///
/// `NARReader` produces these events from bytes; `NARWriter` consumes them and produces bytes;
/// the local store's dumper and restorer produce/consume them from/to the file system.
/// Contents arrive in chunks whose buffers are only valid during the call.
public protocol NARVisitor {
    mutating func beginRegularFile(executable: Bool, size: UInt64) throws
    mutating func contents(_ chunk: UnsafeRawBufferPointer) throws
    mutating func endRegularFile() throws
    mutating func symlink(target: [UInt8]) throws
    mutating func beginDirectory() throws
    mutating func beginEntry(name: [UInt8]) throws
    mutating func endEntry() throws
    mutating func endDirectory() throws
}

extension NARVisitor {
    public mutating func beginRegularFile(executable: Bool, size: UInt64) throws {}
    public mutating func contents(_ chunk: UnsafeRawBufferPointer) throws {}
    public mutating func endRegularFile() throws {}
    public mutating func symlink(target: [UInt8]) throws {}
    public mutating func beginDirectory() throws {}
    public mutating func beginEntry(name: [UInt8]) throws {}
    public mutating func endEntry() throws {}
    public mutating func endDirectory() throws {}
}

/// A visitor that ignores every event: reading into it only validates.
public struct NARValidator: NARVisitor {
    public init() {}
}

/// Where serialised bytes go (a file, a socket, a hasher, memory).
public protocol NARSink {
    mutating func write(_ bytes: UnsafeRawBufferPointer) throws
}

extension Array: NARSink where Element == UInt8 {
    public mutating func write(_ bytes: UnsafeRawBufferPointer) throws { append(contentsOf: bytes) }
}

extension Hasher: NARSink {
    public func write(_ bytes: UnsafeRawBufferPointer) throws { update(bytes) }
}

/// Writes every byte to two sinks, e.g. a file and a `Hasher` (hash while streaming).
public struct TeeSink<First: NARSink, Second: NARSink>: NARSink {
    public var first: First
    public var second: Second
    public init(_ first: First, _ second: Second) {
        self.first = first
        self.second = second
    }
    public mutating func write(_ bytes: UnsafeRawBufferPointer) throws {
        try first.write(bytes)
        try second.write(bytes)
    }
}

/// Where a reader gets bytes: a file descriptor, a socket, a framed stream, memory.
/// `read(into:)` fills at most `buffer.count` bytes and returns how many (0 = end of input);
/// it must never consume more than asked, so a reader can stop exactly at a NAR's end.
public protocol NARByteSource {
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

/// An in-memory source over a byte array.
public struct ByteArraySource: NARByteSource {
    public let bytes: [UInt8]
    public private(set) var position = 0
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public var remaining: Int { bytes.count - position }

    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, bytes.count - position)
        guard n > 0 else { return 0 }
        bytes.withUnsafeBytes { all in
            buffer.baseAddress!.copyMemory(from: all.baseAddress! + position, byteCount: n)
        }
        position += n
        return n
    }
}

/// Reads through another source and feeds every byte to a hasher: the NAR hash and size of
/// what was read, in constant memory.
public struct HashingSource<Base: NARByteSource>: NARByteSource {
    public var base: Base
    public let hasher: Hasher
    public init(_ base: Base, hasher: Hasher) {
        self.base = base
        self.hasher = hasher
    }
    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try base.read(into: buffer)
        hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        return n
    }
}

/// Reads ahead from another source in large blocks, for callers that own the whole stream
/// (a NAR file, standard input) and want few system calls. It may consume bytes past the end
/// of a NAR: never use it where the stream continues with other data after the NAR.
public struct BufferedSource<Base: NARByteSource>: NARByteSource {
    public var base: Base
    private var buffer: [UInt8]
    private var start = 0
    private var end = 0

    public init(_ base: Base, capacity: Int = 1 << 20) {
        self.base = base
        buffer = [UInt8](repeating: 0, count: max(capacity, 64))
    }

    public mutating func read(into target: UnsafeMutableRawBufferPointer) throws -> Int {
        guard target.count > 0 else { return 0 }
        if start == end {
            // Large requests bypass the buffer.
            if target.count >= buffer.count { return try base.read(into: target) }
            start = 0
            end = try buffer.withUnsafeMutableBytes { try base.read(into: $0) }
            if end == 0 { return 0 }
        }
        let n = min(target.count, end - start)
        buffer.withUnsafeBytes { target.baseAddress!.copyMemory(from: $0.baseAddress! + start, byteCount: n) }
        start += n
        return n
    }
}
