import StoreFormats

/// The export/import stream (formats.md §3.5; guix-daemon.md §7.4), per item:
///
///     u64 1, NAR, u64 0x4558494e ("NIXE"), string path, list references, string deriver,
///     u64 hasSignature, [string signature]
///
/// and `u64 0` after the last item. The NAR comes before the path it belongs to, so a reader
/// must stage it; `ExportStreamReader` hands out each item's NAR as a delimited source, then
/// its trailer.
// The item metadata is StoreFormats' `ExportTrailer` (one type for the file format and the wire).

public final class ExportStreamReader {
    /// "NIXE", exportMagic in Nix/Guix store-api.cc.
    public static let exportMagic: UInt64 = 0x4558_494e
    public let reader: WireReader
    public let context: StoreContext
    private var current: HashingSource?

    public init(_ reader: WireReader, _ context: StoreContext) {
        self.reader = reader
        self.context = context
    }

    /// Advances to the next item; returns its NAR as a source, or nil at the end marker.
    public func nextItem() throws(WorkerProtocolError) -> ByteSource? {
        let at = reader.offset
        switch try reader.readU64() {
        case 0: return nil
        case 1:
            let nar = HashingSource(NarDelimiter(reader))
            current = nar
            return nar
        case let other: throw .invalidValue(field: "export item marker", text: String(other), reason: "at byte \(at), expected 0 or 1")
        }
    }

    /// Reads the current item's trailer (consuming what is left of its NAR first). The
    /// metadata is read as raw strings and hashed in its wire form (zero padding is enforced,
    /// so that form is unique) to give `signedDigest`.
    public func trailer() throws(WorkerProtocolError) -> ExportTrailer {
        let hasher = current?.hasher ?? Hasher(.sha256)
        try current?.drain()
        current = nil
        var metadata: [UInt8] = []
        let at = reader.offset
        let magic = try reader.readU64()
        guard magic == Self.exportMagic else {
            throw .invalidValue(field: "export magic", text: "0x" + String(magic, radix: 16), reason: "at byte \(at), expected 0x4558494e")
        }
        Wire.appendU64(magic, to: &metadata)
        let path = try context.parse(try readString("exported path", into: &metadata))
        let count = try reader.readCount("exported references", limit: reader.limits.pathCount)
        Wire.appendU64(UInt64(count), to: &metadata)
        var refs: [StorePath] = []
        for _ in 0..<count { refs.append(try context.parse(try readString("exported references", into: &metadata))) }
        let deriverText = try readString("exported deriver", into: &metadata)
        let deriver = deriverText.isEmpty ? nil : try context.parse(deriverText)
        hasher.update(metadata)
        let signature: [UInt8]? = try reader.readBool("hasSignature")
            ? try reader.readByteString("signature", limit: reader.limits.shortString) : nil
        return ExportTrailer(storePath: path, references: refs, deriver: deriver, signature: signature, signedDigest: hasher.finish())
    }

    private func readString(_ field: String, into metadata: inout [UInt8]) throws(WorkerProtocolError) -> String {
        let text = try reader.readShortString(field)
        Wire.appendString(Array(text.utf8), to: &metadata)
        return text
    }
}

/// A source that hashes (SHA-256) every byte read through it.
final class HashingSource: ByteSource {
    let inner: ByteSource
    let hasher = Hasher(.sha256)
    init(_ inner: ByteSource) { self.inner = inner }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(WorkerProtocolError) -> Int {
        let n = try inner.read(into: buffer)
        hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        return n
    }
}

/// A sink that hashes (SHA-256) every byte written through it: a Guix exporter signs the
/// digest of the NAR and the metadata after it.
public final class HashingSink: ByteSink {
    let inner: ByteSink
    public let hasher = Hasher(.sha256)
    public init(_ inner: ByteSink) { self.inner = inner }

    public func write(_ bytes: UnsafeRawBufferPointer) throws(WorkerProtocolError) {
        try inner.write(bytes)
        hasher.update(bytes)
    }
}

/// Writes what follows an item's NAR up to the signature flag: magic, path, references,
/// deriver (the part a Guix signature covers, with the NAR).
public func writeExportMetadata(_ t: ExportTrailer, to w: WireWriter, _ context: StoreContext) throws(WorkerProtocolError) {
    try w.writeU64(ExportStreamReader.exportMagic)
    try w.writeStorePath(t.storePath, context)
    try w.writeStorePathSet(t.references, context)
    try w.writeOptionalStorePath(t.deriver, context)
}

/// Writes the signature flag and, if there is one, the signature.
public func writeExportSignature(_ signature: [UInt8]?, to w: WireWriter) throws(WorkerProtocolError) {
    if let signature {
        try w.writeU64(1)
        try w.writeByteString(signature)
    } else {
        try w.writeU64(0)
    }
}

/// Writes the trailer that follows an item's NAR (the caller writes `u64 1` and the NAR).
public func writeExportTrailer(_ t: ExportTrailer, to w: WireWriter, _ context: StoreContext) throws(WorkerProtocolError) {
    try writeExportMetadata(t, to: w, context)
    try writeExportSignature(t.signature, to: w)
}

/// The §1.2 encodings as byte appends (for hashing what was read).
enum Wire {
    static func appendU64(_ value: UInt64, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    static func appendString(_ string: [UInt8], to bytes: inout [UInt8]) {
        appendU64(UInt64(string.count), to: &bytes)
        bytes.append(contentsOf: string)
        bytes.append(contentsOf: repeatElement(0, count: Int((8 - string.count % 8) % 8)))
    }
}
