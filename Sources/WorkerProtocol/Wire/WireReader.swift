/// Reads the primitives of formats.md §1.2 from a `ByteSource`, buffered:
///
///     u64     8 bytes little-endian
///     string  u64 n, n bytes, (8 - n % 8) % 8 zero bytes (non-zero padding is rejected)
///     list    u64 count, count strings (sets: the same, sorted by the writer)
///     map     u64 count, count (key, value) string pairs
///
/// Guix's "integer" slots (op codes, booleans, counts) carry 32-bit values; `readInt` rejects
/// larger values as both daemons do, `readU64` takes the full 64 bits ("long-long").
/// `offset` counts every byte consumed, so errors can say where they happened.
public final class WireReader {
    public let source: ByteSource
    public var limits: WireLimits
    /// Owned by the reader, not an array: each access to an array property is a dynamically
    /// checked exclusive access, and a request reads a dozen primitives.
    private let buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    /// Bytes consumed through this reader so far.
    public private(set) var offset: UInt64 = 0

    public init(_ source: ByteSource, limits: WireLimits = .default, bufferSize: Int = 32 * 1024) {
        self.source = source
        self.limits = limits
        self.buffer = .allocate(byteCount: max(bufferSize, 64), alignment: 8)
    }

    deinit { buffer.deallocate() }

    /// Bytes already buffered but not yet consumed.
    public var buffered: Int { end - start }

    /// Fills the buffer with at least one more byte; false at end of stream.
    private func fill() throws(WorkerProtocolError) -> Bool {
        if start == end { start = 0; end = 0 }
        if end == buffer.count {
            // Compact: move the unread tail to the front.
            let n = end - start
            buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: n)
            start = 0
            end = n
        }
        let got = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[end...]))
        end += got
        return got > 0
    }

    /// True if the stream is at its end (no byte buffered and none readable).
    public func atEnd() throws(WorkerProtocolError) -> Bool {
        if start < end { return false }
        return !(try fill())
    }

    /// Copies up to `out.count` bytes, at least one unless at end of stream (returns 0 then).
    /// Large reads bypass the buffer.
    public func readSome(into out: UnsafeMutableRawBufferPointer) throws(WorkerProtocolError) -> Int {
        guard out.count > 0 else { return 0 }
        if start == end {
            if out.count >= buffer.count {
                let n = try source.read(into: out)
                offset += UInt64(n)
                return n
            }
            guard try fill() else { return 0 }
        }
        let n = min(out.count, end - start)
        out.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: n)
        start += n
        offset += UInt64(n)
        return n
    }

    /// Fills `out` completely or throws `endOfStream`.
    public func readExactly(into out: UnsafeMutableRawBufferPointer) throws(WorkerProtocolError) {
        var done = 0
        while done < out.count {
            let n = try readSome(into: UnsafeMutableRawBufferPointer(rebasing: out[done...]))
            if n == 0 { throw .endOfStream(offset: offset, wanted: out.count - done) }
            done += n
        }
    }

    public func readBytes(count: Int) throws(WorkerProtocolError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        try withMutableBytes(&out) { (raw: UnsafeMutableRawBufferPointer) throws(WorkerProtocolError) in try readExactly(into: raw) }
        return out
    }

    public func readU64() throws(WorkerProtocolError) -> UInt64 {
        while end - start < 8 {
            if !(try fill()) { throw .endOfStream(offset: offset + UInt64(end - start), wanted: 8 - (end - start)) }
        }
        let value = UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: start, as: UInt64.self))
        start += 8
        offset += 8
        return value
    }

    /// An "int" slot: the daemons' `readInt` rejects values that do not fit 32 bits.
    public func readInt(_ field: String) throws(WorkerProtocolError) -> UInt64 {
        let at = offset
        let value = try readU64()
        guard value <= UInt64(UInt32.max) else { throw .integerTooLarge(field: field, value: value, offset: at) }
        return value
    }

    public func readBool(_ field: String) throws(WorkerProtocolError) -> Bool {
        try readInt(field) != 0
    }

    /// Skips the padding after `length` bytes of a string, checking it is zero.
    public func readPadding(after length: UInt64) throws(WorkerProtocolError) {
        let pad = Int((8 - length % 8) % 8)
        guard pad > 0 else { return }
        let at = offset
        var bytes: UInt64 = 0
        try withUnsafeMutableBytes(of: &bytes) { (raw: UnsafeMutableRawBufferPointer) throws(WorkerProtocolError) in
            try readExactly(into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<pad]))
        }
        guard bytes == 0 else { throw .nonZeroPadding(offset: at) }
    }

    /// A padded byte string of at most `limit` bytes.
    public func readByteString(_ field: String, limit: UInt64) throws(WorkerProtocolError) -> [UInt8] {
        let at = offset
        let length = try readU64()
        guard length <= limit else { throw .tooLong(field: field, length: length, limit: limit, offset: at) }
        let bytes = try readBytes(count: Int(length))
        try readPadding(after: length)
        return bytes
    }

    /// A padded string that must be UTF-8 text.
    public func readString(_ field: String, limit: UInt64) throws(WorkerProtocolError) -> String {
        if let text = readBufferedString(limit: limit) { return text }
        let at = offset
        let bytes = try readByteString(field, limit: limit)
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .invalidUTF8(field: field, offset: at) }
        return text
    }

    /// The common case of `readString` without an intermediate array: the whole padded
    /// string is already buffered, within `limit`, zero-padded and UTF-8; it is validated in
    /// place. Anything else returns nil having consumed nothing (the caller takes the long
    /// way, which reports the error at the right offset).
    private func readBufferedString(limit: UInt64) -> String? {
        readBuffered(limit: limit) { String(validating: $0, as: UTF8.self) }
    }

    /// `parse` of a string's bytes, when the whole padded string is buffered, within `limit` and
    /// zero-padded and `parse` accepts it; otherwise nil, having consumed nothing.
    func readBuffered<T>(limit: UInt64, _ parse: (UnsafeRawBufferPointer) -> T?) -> T? {
        guard end - start >= 8 else { return nil }
        let length = UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: start, as: UInt64.self))
        guard length <= limit, length <= UInt64(end - start - 8) else { return nil }
        let n = Int(length)
        let padded = (n + 7) & ~7
        guard padded <= end - start - 8 else { return nil }
        let body = start + 8
        for i in (body + n)..<(body + padded) where buffer[i] != 0 { return nil }
        guard let value = parse(UnsafeRawBufferPointer(rebasing: buffer[body..<(body + n)])) else { return nil }
        start = body + padded
        offset += UInt64(8 + padded)
        return value
    }

    /// A short string (paths, names, hashes): `limits.shortString`.
    public func readShortString(_ field: String) throws(WorkerProtocolError) -> String {
        try readString(field, limit: limits.shortString)
    }

    /// A count for a list or map, checked against `limit`.
    public func readCount(_ field: String, limit: UInt64) throws(WorkerProtocolError) -> Int {
        let at = offset
        let count = try readU64()
        guard count <= limit else { throw .tooMany(field: field, count: count, limit: limit, offset: at) }
        return Int(count)
    }

    /// A list (or set) of strings.
    public func readStrings(_ field: String, countLimit: UInt64? = nil, stringLimit: UInt64? = nil) throws(WorkerProtocolError) -> [String] {
        let count = try readCount(field, limit: countLimit ?? limits.pathCount)
        var out: [String] = []
        out.reserveCapacity(min(count, 1024))
        for _ in 0..<count { out.append(try readString(field, limit: stringLimit ?? limits.shortString)) }
        return out
    }

    /// A map of strings, as ordered pairs (the wire order is kept).
    public func readStringPairs(_ field: String, countLimit: UInt64? = nil, valueLimit: UInt64? = nil) throws(WorkerProtocolError) -> [(String, String)] {
        let count = try readCount(field, limit: countLimit ?? limits.smallCount)
        var out: [(String, String)] = []
        for _ in 0..<count {
            let key = try readShortString(field)
            let value = try readString(field, limit: valueLimit ?? limits.longString)
            out.append((key, value))
        }
        return out
    }
}
