/// Framed streams (formats.md §6.4): repeated `u64 n` + `n` raw bytes with **no padding**,
/// ended by `u64 0`. Nix 2.8 clients send frames of at most 32 KiB; any size up to
/// `WireLimits.frameSize` is accepted.

/// Reads the payload of a framed stream as a plain byte source; returns 0 after the zero frame.
public final class FramedSource: ByteSource {
    private let reader: WireReader
    private var remainingInFrame: UInt64 = 0
    public private(set) var finished = false

    public init(_ reader: WireReader) { self.reader = reader }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(WorkerProtocolError) -> Int {
        while remainingInFrame == 0 {
            if finished { return 0 }
            let at = reader.offset
            let n = try reader.readU64()
            if n == 0 { finished = true; return 0 }
            guard n <= reader.limits.frameSize else {
                throw .tooLong(field: "frame", length: n, limit: reader.limits.frameSize, offset: at)
            }
            remainingInFrame = n
        }
        let want = Int(min(UInt64(buffer.count), remainingInFrame))
        let got = try reader.readSome(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]))
        if got == 0 { throw .endOfStream(offset: reader.offset, wanted: Int(clamping: remainingInFrame)) }
        remainingInFrame -= UInt64(got)
        return got
    }

    /// Reads to the zero frame (after an error, so the connection stays in step).
    public func finish() throws(WorkerProtocolError) {
        if !finished { try drain() }
    }
}

/// Writes bytes as frames of at most `frameSize`; `finish()` writes the zero frame.
public final class FramedSink: ByteSink {
    private let writer: WireWriter
    private let frameSize: Int

    public init(_ writer: WireWriter, frameSize: Int = 32 * 1024) {
        self.writer = writer
        self.frameSize = frameSize
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws(WorkerProtocolError) {
        var done = 0
        while done < bytes.count {
            let n = min(frameSize, bytes.count - done)
            try writer.writeU64(UInt64(n))
            try writer.writeRaw(UnsafeRawBufferPointer(rebasing: bytes[done..<(done + n)]))
            done += n
        }
    }

    public func finish() throws(WorkerProtocolError) {
        try writer.writeU64(0)
    }
}
