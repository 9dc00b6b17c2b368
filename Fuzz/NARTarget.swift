import StoreFormats

/// The strict NAR reader on any bytes (security.md §4.2 target 1). Must never trap; a NAR it
/// accepts must re-serialise to exactly the bytes it consumed (a prefix of the input: the reader
/// stops after the root node), and a stream reader must agree with a 1-byte-at-a-time one.
enum NARTarget {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        let input = Array(bytes)
        let reader = NARReader(source: ByteArraySource(input), chunkSize: 64)
        var writer = NARWriter(sink: [UInt8]())
        let accepted: Bool
        do {
            try reader.read(into: &writer)
            accepted = true
        } catch {
            precondition(error is FormatError, "the reader threw something other than FormatError: \(error)")
            accepted = false
        }
        if accepted {
            let consumed = Int(reader.offset)
            precondition(writer.isComplete, "accepted NAR did not complete the writer")
            precondition(writer.sink.elementsEqual(input[0..<consumed]), "accepted NAR does not re-serialise to its bytes")
        }
        var validator = NARValidator()
        let slow = NARReader(source: OneByteSource(input), chunkSize: 8)
        let slowAccepted = (try? slow.read(into: &validator)) != nil
        precondition(slowAccepted == accepted, "accept/reject depends on read sizes")
    }
}

/// Hands out one byte per read.
private struct OneByteSource: NARByteSource {
    var inner: ByteArraySource
    init(_ bytes: [UInt8]) { inner = ByteArraySource(bytes) }
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try inner.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<min(1, buffer.count)]))
    }
}
