/// The transport under the codec: anything that moves bytes (a socket, a pipe, a memory
/// buffer, a framed or tunnelled sub-stream). Reads return 0 only at end of stream.
public protocol ByteSource: AnyObject {
    /// Reads up to `buffer.count` bytes; returns how many, 0 meaning end of stream.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(WorkerProtocolError) -> Int
}

/// A destination for bytes; `write` takes all of them or throws.
public protocol ByteSink: AnyObject {
    func write(_ bytes: UnsafeRawBufferPointer) throws(WorkerProtocolError)
}

/// Both directions of one connection.
public typealias ByteStream = ByteSource & ByteSink

extension ByteSink {
    public func write(_ bytes: [UInt8]) throws(WorkerProtocolError) {
        try withBytes(bytes) { (raw: UnsafeRawBufferPointer) throws(WorkerProtocolError) in try write(raw) }
    }
}

extension ByteSource {
    /// Reads everything up to end of stream, failing past `limit` bytes.
    public func readAll(limit: Int) throws(WorkerProtocolError) -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = try withMutableBytes(&chunk) { (raw: UnsafeMutableRawBufferPointer) throws(WorkerProtocolError) in try read(into: raw) }
            if n == 0 { return out }
            guard out.count + n <= limit else {
                throw .tooLong(field: "data", length: UInt64(out.count + n), limit: UInt64(limit), offset: UInt64(out.count))
            }
            out += chunk[0..<n]
        }
    }

    /// Reads and discards everything up to end of stream; returns the byte count.
    @discardableResult
    public func drain() throws(WorkerProtocolError) -> UInt64 {
        var total: UInt64 = 0
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = try withMutableBytes(&chunk) { (raw: UnsafeMutableRawBufferPointer) throws(WorkerProtocolError) in try read(into: raw) }
            if n == 0 { return total }
            total += UInt64(n)
        }
    }
}

/// An in-memory stream: reads consume `input`, writes append to `output`. Used by tests,
/// the fuzzer and the benchmarks.
public final class MemoryStream: ByteSource, ByteSink {
    public private(set) var input: [UInt8]
    public private(set) var position = 0
    public var output: [UInt8] = []
    /// Largest count one `read` returns, to exercise short reads.
    public var maxReadSize: Int

    public init(input: [UInt8] = [], maxReadSize: Int = Int.max) {
        self.input = input
        self.maxReadSize = maxReadSize
    }

    public var remaining: Int { input.count - position }

    public func append(input more: [UInt8]) { input += more }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(WorkerProtocolError) -> Int {
        let n = min(buffer.count, remaining, maxReadSize)
        guard n > 0 else { return 0 }
        input.withUnsafeBytes { src in
            buffer.baseAddress!.copyMemory(from: src.baseAddress! + position, byteCount: n)
        }
        position += n
        return n
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws(WorkerProtocolError) {
        output.append(contentsOf: bytes)
    }
}

/// A sink that only counts (draining payloads, measuring).
public final class CountingSink: ByteSink {
    public private(set) var count: UInt64 = 0
    public init() {}
    public func write(_ bytes: UnsafeRawBufferPointer) throws(WorkerProtocolError) { count += UInt64(bytes.count) }
}

/// A sink that keeps everything, up to a limit.
public final class BufferSink: ByteSink {
    public private(set) var bytes: [UInt8] = []
    public let limit: Int
    public init(limit: Int = Int.max) { self.limit = limit }
    public func write(_ more: UnsafeRawBufferPointer) throws(WorkerProtocolError) {
        guard bytes.count + more.count <= limit else {
            throw .tooLong(field: "data", length: UInt64(bytes.count + more.count), limit: UInt64(limit), offset: UInt64(bytes.count))
        }
        bytes.append(contentsOf: more)
    }
}
