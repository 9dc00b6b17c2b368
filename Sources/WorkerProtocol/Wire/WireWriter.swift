/// Writes the primitives of formats.md §1.2 to a `ByteSink`, buffered; `flush()` hands the
/// buffered bytes to the sink (call it before waiting for the peer).
///
/// Everything is written as genuine u64, which Guix's 32-bit "integer" readers accept as long
/// as the value fits 32 bits (formats.md §1.2, "Guix quirk").
public final class WireWriter {
    public let sink: ByteSink
    private var buffer: [UInt8] = []
    private let capacity: Int

    public init(_ sink: ByteSink, bufferSize: Int = 32 * 1024) {
        self.sink = sink
        self.capacity = bufferSize
        buffer.reserveCapacity(bufferSize)
    }

    public func flush() throws(WorkerProtocolError) {
        guard !buffer.isEmpty else { return }
        try withBytes(buffer) { (raw: UnsafeRawBufferPointer) throws(WorkerProtocolError) in try sink.write(raw) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func maybeFlush() throws(WorkerProtocolError) {
        if buffer.count >= capacity { try flush() }
    }

    public func writeU64(_ value: UInt64) throws(WorkerProtocolError) {
        withUnsafeBytes(of: value.littleEndian) { buffer.append(contentsOf: $0) }
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
        buffer.append(contentsOf: bytes)
        try maybeFlush()
    }

    public func writeRaw(_ bytes: [UInt8]) throws(WorkerProtocolError) {
        try withBytes(bytes) { (raw: UnsafeRawBufferPointer) throws(WorkerProtocolError) in try writeRaw(raw) }
    }

    public func writePadding(after length: Int) throws(WorkerProtocolError) {
        let pad = (8 - length % 8) % 8
        if pad > 0 { buffer.append(contentsOf: repeatElement(0, count: pad)) }
        try maybeFlush()
    }

    public func writeByteString<Bytes: Collection>(_ bytes: Bytes) throws(WorkerProtocolError) where Bytes.Element == UInt8 {
        try writeU64(UInt64(bytes.count))
        if bytes.count >= capacity {
            try writeRaw(Array(bytes))
        } else {
            buffer.append(contentsOf: bytes)
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
        text.withUTF8 { buffer.append(contentsOf: $0) }
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
