/// Writes the primitives of formats.md §1.2 to a `ByteSink`, buffered; `flush()` hands the
/// buffered bytes to the sink (call it before waiting for the peer).
///
/// Everything is written as genuine u64, which Guix's 32-bit "integer" readers accept as long
/// as the value fits 32 bits (formats.md §1.2, "Guix quirk").
import StoreFormats

public final class WireWriter {
    public let sink: ByteSink
    /// The pending bytes, `count` of `allocated`, owned by the writer. Not an array: every
    /// append to an array property is a dynamically checked exclusive access plus a uniqueness
    /// check, and a path-info reply makes a dozen appends. As an array did, it grows to take
    /// a whole piece and is flushed once it holds `capacity` bytes (so the sink sees the same
    /// writes: a tunnel sink makes one message of each).
    private var buffer: UnsafeMutablePointer<UInt8>
    private var count = 0
    private var allocated: Int
    private let capacity: Int

    public init(_ sink: ByteSink, bufferSize: Int = 32 * 1024) {
        self.sink = sink
        self.capacity = bufferSize
        allocated = max(bufferSize, 64)
        buffer = .allocate(capacity: allocated)
    }

    deinit { buffer.deallocate() }

    public func flush() throws(WorkerProtocolError) {
        guard count > 0 else { return }
        try sink.write(UnsafeRawBufferPointer(start: buffer, count: count))
        count = 0
    }

    private func maybeFlush() throws(WorkerProtocolError) {
        if count >= capacity { try flush() }
    }

    /// Room for `n` more bytes (grows the buffer, keeping what is pending).
    @inline(__always)
    private func reserve(_ n: Int) {
        if count + n > allocated { grow(count + n) }
    }

    private func grow(_ needed: Int) {
        let size = max(needed, 2 * allocated)
        let larger = UnsafeMutablePointer<UInt8>.allocate(capacity: size)
        larger.initialize(from: buffer, count: count)
        buffer.deallocate()
        buffer = larger
        allocated = size
    }

    /// Appends without flushing.
    private func append(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        reserve(bytes.count)
        UnsafeMutableRawPointer(buffer + count).copyMemory(from: base, byteCount: bytes.count)
        count += bytes.count
    }

    private func append(byte: UInt8) {
        reserve(1)
        buffer[count] = byte
        count += 1
    }

    public func writeU64(_ value: UInt64) throws(WorkerProtocolError) {
        reserve(8)
        UnsafeMutableRawPointer(buffer + count).storeBytes(of: value.littleEndian, as: UInt64.self)
        count += 8
        try maybeFlush()
    }

    public func writeBool(_ value: Bool) throws(WorkerProtocolError) { try writeU64(value ? 1 : 0) }

    /// Raw bytes with no length and no padding (framed-stream payloads, raw NARs).
    public func writeRaw(_ bytes: UnsafeRawBufferPointer) throws(WorkerProtocolError) {
        if bytes.count >= capacity {
            try flush()
            try sink.write(bytes)
            return
        }
        append(bytes)
        try maybeFlush()
    }

    public func writeRaw(_ bytes: [UInt8]) throws(WorkerProtocolError) {
        try withBytes(bytes) { (raw: UnsafeRawBufferPointer) throws(WorkerProtocolError) in try writeRaw(raw) }
    }

    public func writePadding(after length: Int) throws(WorkerProtocolError) {
        let pad = (8 - length % 8) % 8
        if pad > 0 {
            reserve(pad)
            (buffer + count).initialize(repeating: 0, count: pad)
            count += pad
        }
        try maybeFlush()
    }

    public func writeByteString<Bytes: Collection>(_ bytes: Bytes) throws(WorkerProtocolError) where Bytes.Element == UInt8 {
        try writeU64(UInt64(bytes.count))
        if bytes.count >= capacity {
            try writeRaw(Array(bytes))
        } else if bytes.withContiguousStorageIfAvailable({ append(UnsafeRawBufferPointer($0)) }) == nil {
            Array(bytes).withUnsafeBytes { append($0) }
        }
        try writePadding(after: bytes.count)
    }

    /// One string given in pieces, written without joining them first (store paths).
    public func writeString(concatenating parts: String...) throws(WorkerProtocolError) {
        var total = 0
        for part in parts { total += part.utf8.count }
        guard total < capacity else {
            try writeString(parts.joined())
            return
        }
        try writeU64(UInt64(total))
        for part in parts { appendUTF8(part) }
        try writePadding(after: total)
    }

    /// `<directory>/<hashPart>-<name>`, a store path's text, from its pieces (no variadic array).
    func writeStorePathText(_ directory: String, _ hashPart: String, _ name: String) throws(WorkerProtocolError) {
        let total = directory.utf8.count + hashPart.utf8.count + name.utf8.count + 2
        guard total < capacity else {
            try writeString(concatenating: directory, "/", hashPart, "-", name)
            return
        }
        try writeU64(UInt64(total))
        appendUTF8(directory)
        append(byte: UInt8(ascii: "/"))
        appendUTF8(hashPart)
        append(byte: UInt8(ascii: "-"))
        appendUTF8(name)
        try writePadding(after: total)
    }

    /// `bytes` as a string of lowercase hexadecimal, written straight into the buffer (a
    /// path-info reply's NAR hash: no string is made for it).
    public func writeBase16(_ bytes: [UInt8]) throws(WorkerProtocolError) {
        let length = 2 * bytes.count
        guard length < capacity else {
            try writeString(Base16.encode(bytes))
            return
        }
        try writeU64(UInt64(length))
        reserve(length)
        bytes.withUnsafeBufferPointer { Base16.write($0, to: buffer + count) }
        count += length
        try writePadding(after: length)
    }

    public func writeString(_ text: String) throws(WorkerProtocolError) {
        let count = text.utf8.count
        guard count < capacity else {
            try writeByteString(text.utf8)
            return
        }
        try writeU64(UInt64(count))
        appendUTF8(text)
        try writePadding(after: count)
    }

    /// A string's bytes copied in one go (appending a `String.UTF8View` goes byte by byte).
    private func appendUTF8(_ text: String) {
        var text = text
        text.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    public func writeStrings<S: Collection>(_ list: S) throws(WorkerProtocolError) where S.Element == String {
        try writeU64(UInt64(list.count))
        for s in list { try writeString(s) }
    }

    /// A set: sorted byte-wise, as C++ `std::set<std::string>` iterates.
    public func writeStringSet<S: Collection>(_ set: S) throws(WorkerProtocolError) where S.Element == String {
        try writeStrings(set.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
    }

    public func writeStringPairs(_ pairs: [(String, String)]) throws(WorkerProtocolError) {
        try writeU64(UInt64(pairs.count))
        for (k, v) in pairs {
            try writeString(k)
            try writeString(v)
        }
    }
}
