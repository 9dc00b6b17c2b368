/// The canonical NAR encoder: fed `NARVisitor` events, it emits NAR bytes to a sink and
/// refuses any event sequence that would not be canonical (formats.md §3.2): entry names
/// strictly increasing byte-wise, valid names and targets, contents exactly as long as
/// announced, events in grammar order, depth ≤ `NAR.maxDepth`. Errors are
/// `FormatError.invalidNAR` with the offset of the output at the refused event.
///
/// Small tokens are gathered in a buffer and written in one piece; large content chunks go
/// straight through. Call `flush()` only if you stop early; completion of the root flushes.
public struct NARWriter<Sink: NARSink>: NARVisitor {
    public private(set) var sink: Sink
    /// Bytes handed to the sink so far.
    public private(set) var bytesWritten: UInt64 = 0
    /// True once the root node is complete (and flushed).
    public var isComplete: Bool { state == .complete }

    private enum State: Equatable {
        case expectingNode, inFile, inDirectory, entryNodeDone, complete
    }
    private var state = State.expectingNode
    private var started = false
    private var remaining: UInt64 = 0
    private var fileSize: UInt64 = 0
    /// One slot per open directory: the last entry name written in it.
    private var lastNames: [[UInt8]?] = []
    private var pending: [UInt8] = []

    private static var bufferLimit: Int { 1 << 16 }

    public init(sink: Sink) {
        self.sink = sink
        pending.reserveCapacity(Self.bufferLimit)
    }

    private var offset: UInt64 { bytesWritten &+ UInt64(pending.count) }

    private func fail(_ reason: String) -> FormatError {
        .invalidNAR(offset: offset, reason: reason)
    }

    public mutating func flush() throws {
        guard !pending.isEmpty else { return }
        try pending.withUnsafeBytes { try sink.write($0) }
        bytesWritten &+= UInt64(pending.count)
        pending.removeAll(keepingCapacity: true)
    }

    private mutating func appendInteger(_ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { pending.append(contentsOf: $0) }
    }

    private mutating func appendString(_ bytes: [UInt8]) {
        appendInteger(UInt64(bytes.count))
        pending.append(contentsOf: bytes)
        appendPadding(UInt64(bytes.count))
    }

    private mutating func appendPadding(_ length: UInt64) {
        let zeros = NAR.padding(length)
        if zeros > 0 { pending.append(contentsOf: repeatElement(0, count: zeros)) }
    }

    private mutating func beginNode(_ type: [UInt8]) throws {
        guard state == .expectingNode else { throw fail("a node is not expected here") }
        if !started {
            appendString(NAR.magic)
            started = true
        }
        appendString(NAR.Tag.open)
        appendString(NAR.Tag.type)
        appendString(type)
    }

    private mutating func endNode() throws {
        appendString(NAR.Tag.close)
        if lastNames.isEmpty {
            state = .complete
            try flush()
        } else {
            state = .entryNodeDone
            if pending.count >= Self.bufferLimit { try flush() }
        }
    }

    public mutating func beginRegularFile(executable: Bool, size: UInt64) throws {
        try beginNode(NAR.Tag.regular)
        if executable {
            appendString(NAR.Tag.executable)
            appendString([])
        }
        appendString(NAR.Tag.contents)
        appendInteger(size)
        remaining = size
        fileSize = size
        state = .inFile
    }

    public mutating func contents(_ chunk: UnsafeRawBufferPointer) throws {
        guard state == .inFile else { throw fail("file contents outside a regular file") }
        guard UInt64(chunk.count) <= remaining else {
            throw fail("file contents longer than the announced \(fileSize) bytes")
        }
        remaining -= UInt64(chunk.count)
        if chunk.count >= 4096 {
            try flush()
            try sink.write(chunk)
            bytesWritten &+= UInt64(chunk.count)
        } else {
            pending.append(contentsOf: chunk)
            if pending.count >= Self.bufferLimit { try flush() }
        }
    }

    public mutating func endRegularFile() throws {
        guard state == .inFile else { throw fail("end of a regular file outside one") }
        guard remaining == 0 else { throw fail("file contents \(remaining) bytes shorter than the announced \(fileSize)") }
        appendPadding(fileSize)
        try endNode()
    }

    public mutating func symlink(target: [UInt8]) throws {
        if let problem = NAR.problem(withTarget: target) { throw fail(problem) }
        try beginNode(NAR.Tag.symlink)
        appendString(NAR.Tag.target)
        appendString(target)
        try endNode()
    }

    public mutating func beginDirectory() throws {
        try beginNode(NAR.Tag.directory)
        lastNames.append(nil)
        state = .inDirectory
    }

    public mutating func beginEntry(name: [UInt8]) throws {
        guard state == .inDirectory, let last = lastNames.last else { throw fail("a directory entry outside a directory") }
        if let problem = NAR.problem(withName: name) { throw fail(problem) }
        if let last, !last.lexicographicallyPrecedes(name) {
            throw fail(last == name
                ? "two entries named '\(NAR.display(name))'"
                : "directory entries '\(NAR.display(last))' then '\(NAR.display(name))' are not in byte order")
        }
        guard lastNames.count < NAR.maxDepth + 1 else { throw fail("directories nested deeper than \(NAR.maxDepth)") }
        lastNames[lastNames.count - 1] = name
        appendString(NAR.Tag.entry)
        appendString(NAR.Tag.open)
        appendString(NAR.Tag.name)
        appendString(name)
        appendString(NAR.Tag.node)
        state = .expectingNode
    }

    public mutating func endEntry() throws {
        guard state == .entryNodeDone else { throw fail("end of an entry before its node") }
        appendString(NAR.Tag.close)
        state = .inDirectory
    }

    public mutating func endDirectory() throws {
        guard state == .inDirectory, !lastNames.isEmpty else { throw fail("end of a directory outside one") }
        lastNames.removeLast()
        try endNode()
    }
}

extension NAR {
    /// The NAR of a single regular file with these contents (the "recursive" form of a file).
    public static func regularFile(_ contents: [UInt8], executable: Bool = false) -> [UInt8] {
        var writer = NARWriter(sink: [UInt8]())
        // Writing one well-formed file cannot fail: every event is in grammar order.
        do {
            try writer.beginRegularFile(executable: executable, size: UInt64(contents.count))
            try contents.withUnsafeBytes { try writer.contents($0) }
            try writer.endRegularFile()
        } catch {
            preconditionFailure("a single-file NAR cannot be refused: \(error)")
        }
        return writer.sink
    }
}
