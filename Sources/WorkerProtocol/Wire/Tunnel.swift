/// Tunnelled data over the stderr channel (formats.md §6.4): the daemon pulls client data with
/// `STDERR_READ n` (the client answers with one string of at most n bytes, empty = end) and
/// pushes data for the client's sink with `STDERR_WRITE` strings (export).

/// Pulls bytes from the client with `STDERR_READ`.
public final class TunnelSource: ByteSource {
    private let reader: WireReader
    private let writer: WireWriter
    private let chunkSize: UInt64
    private var pending: [UInt8] = []
    private var pendingStart = 0
    private var ended = false

    public init(reader: WireReader, writer: WireWriter, chunkSize: UInt64 = 64 * 1024) {
        self.reader = reader
        self.writer = writer
        self.chunkSize = chunkSize
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(WorkerProtocolError) -> Int {
        guard buffer.count > 0 else { return 0 }
        if pendingStart == pending.count {
            if ended { return 0 }
            try writer.writeU64(StderrCode.read.rawValue)
            try writer.writeU64(chunkSize)
            try writer.flush()
            pending = try reader.readByteString("tunnelled data", limit: chunkSize)
            pendingStart = 0
            if pending.isEmpty { ended = true; return 0 }
        }
        let n = min(buffer.count, pending.count - pendingStart)
        pending.withUnsafeBytes { raw in buffer.baseAddress!.copyMemory(from: raw.baseAddress! + pendingStart, byteCount: n) }
        pendingStart += n
        return n
    }
}

/// Pushes bytes to the client as `STDERR_WRITE` strings.
public final class TunnelSink: ByteSink {
    private let writer: WireWriter
    public init(writer: WireWriter) { self.writer = writer }

    public func write(_ bytes: UnsafeRawBufferPointer) throws(WorkerProtocolError) {
        guard bytes.count > 0 else { return }
        try writer.writeU64(StderrCode.write.rawValue)
        try writer.writeByteString(bytes)
    }
}
