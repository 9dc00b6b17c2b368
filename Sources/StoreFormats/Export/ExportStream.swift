/// The export/import stream of `nix-store --export` and `guix archive --export` (formats.md
/// §3.5): items each introduced by u64 1, the stream ended by u64 0.
///
///     u64 1, NAR, u64 0x4558494e ("NIXE"), string storePath, list<string> references,
///     string deriver ("" = none), u64 0 | u64 1 string signature
///
/// Guix signs the SHA-256 of the bytes from the NAR's first byte through the deriver string
/// (the leading 1 is not covered); `ExportTrailer.signedDigest` carries that digest as read.
public struct ExportTrailer: Hashable, Sendable {
    public var storePath: StorePath
    public var references: [StorePath]
    public var deriver: StorePath?
    /// Guix's canonical s-expression signature, if the item carries one (Nix writes none).
    public var signature: [UInt8]?
    /// SHA-256 over NAR … deriver, computed while reading (nil for trailers built by hand).
    public var signedDigest: Hash?

    public init(storePath: StorePath, references: [StorePath], deriver: StorePath?, signature: [UInt8]? = nil, signedDigest: Hash? = nil) {
        self.storePath = storePath
        self.references = references
        self.deriver = deriver
        self.signature = signature
        self.signedDigest = signedDigest
    }
}

public enum ExportStream {
    /// "NIXE", the marker between an item's NAR and its metadata.
    public static let magic: UInt64 = 0x4558_494e
    /// Store paths are far shorter; this only bounds allocation.
    static let maxPathLength = 4096
    /// No store item has this many references; the bound keeps a hostile count from looping.
    static let maxReferences = 1 << 20
    /// Guix signatures are a few hundred bytes.
    static let maxSignatureLength = 1 << 16
}

/// Reads an export stream item by item; each item's NAR goes to a visitor (streamed).
public final class ExportReader<Source: NARByteSource> {
    private let reader: NARReader<Source>
    public let storeDirectory: StoreDirectory
    public let rules: StorePathName.Rules
    public private(set) var isFinished = false

    public init(source: Source, storeDirectory: StoreDirectory, rules: StorePathName.Rules = .nix) {
        reader = NARReader(source: source)
        self.storeDirectory = storeDirectory
        self.rules = rules
    }

    public var source: Source { reader.source }
    public var offset: UInt64 { reader.offset }

    private func fail(_ reason: String, at position: UInt64) -> FormatError {
        .invalidExport(offset: position, reason: reason)
    }

    /// Reads the next item, its NAR into `visitor`; nil at the end-of-stream marker.
    public func next<Visitor: NARVisitor>(into visitor: inout Visitor) throws -> ExportTrailer? {
        guard !isFinished else { return nil }
        let start = reader.offset
        switch try reader.readInteger() {
        case 0:
            isFinished = true
            return nil
        case 1: break
        case let other: throw fail("expected item marker 1 or end marker 0, got \(other)", at: start)
        }
        let hasher = Hasher(.sha256)
        reader.tap = hasher
        defer { reader.tap = nil }
        try reader.read(into: &visitor)
        let magicStart = reader.offset
        let magic = try reader.readInteger()
        guard magic == ExportStream.magic else {
            throw fail("expected export magic 0x4558494e, got 0x\(String(magic, radix: 16))", at: magicStart)
        }
        let storePath = try readStorePath()
        let countStart = reader.offset
        let count = try reader.readInteger()
        guard count <= UInt64(ExportStream.maxReferences) else {
            throw fail("\(count) references exceed the limit of \(ExportStream.maxReferences)", at: countStart)
        }
        var references: [StorePath] = []
        for _ in 0..<Int(count) { references.append(try readStorePath()) }
        let deriverStart = reader.offset
        let deriverText = try reader.readString(limit: ExportStream.maxPathLength, what: "deriver")
        let deriver = deriverText.isEmpty ? nil : try parseStorePath(deriverText, at: deriverStart)
        let signedDigest = hasher.finish()
        reader.tap = nil
        let flagStart = reader.offset
        let signature: [UInt8]?
        switch try reader.readInteger() {
        case 0: signature = nil
        case 1: signature = try reader.readString(limit: ExportStream.maxSignatureLength, what: "signature")
        case let other: throw fail("expected signature flag 0 or 1, got \(other)", at: flagStart)
        }
        return ExportTrailer(storePath: storePath, references: references, deriver: deriver,
                             signature: signature, signedDigest: signedDigest)
    }

    private func readStorePath() throws -> StorePath {
        let start = reader.offset
        let text = try reader.readString(limit: ExportStream.maxPathLength, what: "store path")
        return try parseStorePath(text, at: start)
    }

    private func parseStorePath(_ bytes: [UInt8], at start: UInt64) throws -> StorePath {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw fail("store path is not UTF-8", at: start)
        }
        do {
            return try StorePath(parsing: text, in: storeDirectory, rules: rules)
        } catch {
            throw fail("\(error)", at: start)
        }
    }
}

/// Renders an export stream: `beginItem()`, the item's NAR bytes through `writeNAR` or a
/// `NARWriter` on `sink`, `endItem(_:)`, …, then `finish()`.
public struct ExportWriter<Sink: NARSink> {
    public private(set) var sink: Sink
    public let storeDirectory: StoreDirectory

    public init(sink: Sink, storeDirectory: StoreDirectory) {
        self.sink = sink
        self.storeDirectory = storeDirectory
    }

    public mutating func beginItem() throws { try writeInteger(1) }

    /// Writes the NAR of the current item (already serialised).
    public mutating func writeNAR(_ nar: [UInt8]) throws {
        try nar.withUnsafeBytes { try sink.write($0) }
    }

    public mutating func endItem(_ trailer: ExportTrailer) throws {
        var bytes: [UInt8] = []
        Wire.appendInteger(ExportStream.magic, to: &bytes)
        Wire.appendString(Array(trailer.storePath.absolute(in: storeDirectory).utf8), to: &bytes)
        Wire.appendInteger(UInt64(trailer.references.count), to: &bytes)
        for reference in trailer.references {
            Wire.appendString(Array(reference.absolute(in: storeDirectory).utf8), to: &bytes)
        }
        Wire.appendString(trailer.deriver.map { Array($0.absolute(in: storeDirectory).utf8) } ?? [], to: &bytes)
        if let signature = trailer.signature {
            Wire.appendInteger(1, to: &bytes)
            Wire.appendString(signature, to: &bytes)
        } else {
            Wire.appendInteger(0, to: &bytes)
        }
        try bytes.withUnsafeBytes { try sink.write($0) }
    }

    public mutating func finish() throws { try writeInteger(0) }

    private mutating func writeInteger(_ value: UInt64) throws {
        try withUnsafeBytes(of: value.littleEndian) { try sink.write($0) }
    }
}

/// The §1.2 primitives as byte appends.
enum Wire {
    static func appendInteger(_ value: UInt64, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    static func appendString(_ string: [UInt8], to bytes: inout [UInt8]) {
        appendInteger(UInt64(string.count), to: &bytes)
        bytes.append(contentsOf: string)
        bytes.append(contentsOf: repeatElement(0, count: NAR.padding(UInt64(string.count))))
    }
}
