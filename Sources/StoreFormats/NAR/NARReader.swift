/// The strict, streaming NAR reader (formats.md §3.3, security.md §3.1). It pulls bytes from a
/// `NARByteSource`, never asking for more than the grammar needs next, so it stops exactly
/// after the root node's `)` and leaves what follows unread. File contents are handed to the
/// visitor in chunks of at most `chunkSize` bytes: memory stays constant whatever the NAR size.
///
/// Every format fault is `FormatError.invalidNAR(offset:reason:)` where offset counts bytes from
/// the start of the NAR; errors of the source or visitor pass through unchanged. Length prefixes
/// are compared against the token's limit before anything is allocated, and contents lengths are
/// only ever counted down, so no prefix (up to 2^64 − 1) can overflow or trap.
public final class NARReader<Source: NARByteSource> {
    public private(set) var source: Source
    /// Bytes consumed from the source since creation.
    public private(set) var offset: UInt64 = 0
    /// Every byte consumed is also fed here while set (export-stream signatures hash a span).
    var tap: Hasher?
    private let chunk: UnsafeMutableRawBufferPointer

    public init(source: Source, chunkSize: Int = 1 << 16) {
        self.source = source
        chunk = .allocate(byteCount: max(chunkSize, 64), alignment: 16)
    }

    deinit { chunk.deallocate() }

    /// Reads one whole NAR (magic included) and reports it to `visitor`.
    public func read<Visitor: NARVisitor>(into visitor: inout Visitor) throws {
        try expect(NAR.magic, what: "NAR magic 'nix-archive-1' (input doesn't look like a Nix archive)")
        try readNode(into: &visitor, depth: 0)
    }

    // MARK: Primitives

    func fail(_ reason: String, at position: UInt64? = nil) -> FormatError {
        .invalidNAR(offset: position ?? offset, reason: reason)
    }

    /// Fills `buffer` completely or fails with "unexpected end of input".
    func readExactly(_ buffer: UnsafeMutableRawBufferPointer) throws {
        var done = 0
        while done < buffer.count {
            let n = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]))
            guard n > 0 else { throw fail("unexpected end of input (truncated NAR)", at: offset &+ UInt64(done)) }
            done += n
        }
        tap?.update(UnsafeRawBufferPointer(buffer))
        offset &+= UInt64(buffer.count)
    }

    func readInteger() throws -> UInt64 {
        var value: UInt64 = 0
        try withUnsafeMutableBytes(of: &value) { try readExactly($0) }
        return UInt64(littleEndian: value)
    }

    /// `count` padding bytes, which must all be zero.
    func readPadding(_ count: Int) throws {
        guard count > 0 else { return }
        let start = offset
        var padding: UInt64 = 0
        try withUnsafeMutableBytes(of: &padding) { try readExactly(UnsafeMutableRawBufferPointer(rebasing: $0[0..<count])) }
        guard padding == 0 else { throw fail("non-zero padding", at: start) }
    }

    /// A length-prefixed string of at most `limit` bytes (checked before allocating).
    func readString(limit: Int, what: String) throws -> [UInt8] {
        let start = offset
        let length = try readInteger()
        guard length <= UInt64(limit) else {
            throw fail("\(what) of \(length) bytes exceeds the limit of \(limit)", at: start)
        }
        let bytes = try [UInt8](unsafeUninitializedCapacity: Int(length)) { buffer, count in
            try readExactly(UnsafeMutableRawBufferPointer(buffer))
            count = Int(length)
        }
        try readPadding(NAR.padding(length))
        return bytes
    }

    /// A keyword token (any token longer than every keyword is refused unread).
    func readTag() throws -> [UInt8] {
        try readString(limit: NAR.maxTagLength, what: "tag")
    }

    func expect(_ tag: [UInt8], what: String? = nil) throws {
        let start = offset
        let got = try readTag()
        guard got == tag else {
            throw fail("expected \(what ?? "tag '\(NAR.display(tag))'"), got '\(NAR.display(got))'", at: start)
        }
    }

    // MARK: Grammar

    private func readNode<Visitor: NARVisitor>(into visitor: inout Visitor, depth: Int) throws {
        try expect(NAR.Tag.open)
        try expect(NAR.Tag.type)
        let start = offset
        let type = try readTag()
        switch type {
        case NAR.Tag.regular: try readRegular(into: &visitor)
        case NAR.Tag.symlink: try readSymlink(into: &visitor)
        case NAR.Tag.directory: try readDirectory(into: &visitor, depth: depth)
        default: throw fail("unknown node type '\(NAR.display(type))'", at: start)
        }
    }

    private func readRegular<Visitor: NARVisitor>(into visitor: inout Visitor) throws {
        var start = offset
        var tag = try readTag()
        var executable = false
        if tag == NAR.Tag.executable {
            let valueStart = offset
            let value = try readTag()
            guard value.isEmpty else {
                throw fail("'executable' marker with value '\(NAR.display(value))' (must be empty)", at: valueStart)
            }
            executable = true
            start = offset
            tag = try readTag()
        }
        guard tag == NAR.Tag.contents else {
            throw fail("expected tag 'contents', got '\(NAR.display(tag))'", at: start)
        }
        let size = try readInteger()
        try visitor.beginRegularFile(executable: executable, size: size)
        var remaining = size
        while remaining > 0 {
            let n = remaining < UInt64(chunk.count) ? Int(remaining) : chunk.count
            let piece = UnsafeMutableRawBufferPointer(rebasing: chunk[0..<n])
            try readExactly(piece)
            try visitor.contents(UnsafeRawBufferPointer(piece))
            remaining -= UInt64(n)
        }
        try readPadding(NAR.padding(size))
        try expect(NAR.Tag.close)
        try visitor.endRegularFile()
    }

    private func readSymlink<Visitor: NARVisitor>(into visitor: inout Visitor) throws {
        try expect(NAR.Tag.target)
        let start = offset
        let target = try readString(limit: NAR.maxSymlinkTargetLength, what: "symlink target")
        if let problem = NAR.problem(withTarget: target) { throw fail(problem, at: start) }
        try expect(NAR.Tag.close)
        try visitor.symlink(target: target)
    }

    private func readDirectory<Visitor: NARVisitor>(into visitor: inout Visitor, depth: Int) throws {
        try visitor.beginDirectory()
        var last: [UInt8]? = nil
        while true {
            let start = offset
            let tag = try readTag()
            if tag == NAR.Tag.close { break }
            guard tag == NAR.Tag.entry else {
                throw fail("expected tag 'entry' or ')', got '\(NAR.display(tag))'", at: start)
            }
            try expect(NAR.Tag.open)
            try expect(NAR.Tag.name)
            let nameStart = offset
            let name = try readString(limit: NAR.maxNameLength, what: "file name")
            if let problem = NAR.problem(withName: name) { throw fail(problem, at: nameStart) }
            if let last, !last.lexicographicallyPrecedes(name) {
                throw fail(last == name
                    ? "two entries named '\(NAR.display(name))'"
                    : "directory entries '\(NAR.display(last))' then '\(NAR.display(name))' (NAR directory is not sorted)",
                    at: nameStart)
            }
            last = name
            try expect(NAR.Tag.node)
            guard depth < NAR.maxDepth else {
                throw fail("directories nested deeper than \(NAR.maxDepth)")
            }
            try visitor.beginEntry(name: name)
            try readNode(into: &visitor, depth: depth + 1)
            try expect(NAR.Tag.close)
            try visitor.endEntry()
        }
        try visitor.endDirectory()
    }
}

extension NAR {
    /// Parses `bytes`, which must hold exactly one NAR and nothing after it.
    public static func parse<Visitor: NARVisitor>(_ bytes: [UInt8], into visitor: inout Visitor) throws {
        let reader = NARReader(source: ByteArraySource(bytes))
        try reader.read(into: &visitor)
        guard reader.source.remaining == 0 else {
            throw FormatError.invalidNAR(offset: reader.offset, reason: "\(reader.source.remaining) trailing bytes after the NAR")
        }
    }

    /// Checks that `bytes` is exactly one canonical NAR.
    public static func validate(_ bytes: [UInt8]) throws {
        var validator = NARValidator()
        try parse(bytes, into: &validator)
    }

    /// Parses and re-serialises: for an accepted NAR the result equals the input.
    public static func canonical(_ bytes: [UInt8]) throws -> [UInt8] {
        var writer = NARWriter(sink: [UInt8]())
        try parse(bytes, into: &writer)
        return writer.sink
    }
}
