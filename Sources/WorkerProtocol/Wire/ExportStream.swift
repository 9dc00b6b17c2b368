import StoreFormats

/// The export/import stream (formats.md §3.5; guix-daemon.md §7.4), per item:
///
///     u64 1, NAR, u64 0x4558494e ("NIXE"), string path, list references, string deriver,
///     u64 hasSignature, [string signature]
///
/// and `u64 0` after the last item. The NAR comes before the path it belongs to, so a reader
/// must stage it; `ExportStreamReader` hands out each item's NAR as a delimited source, then
/// its trailer.
public struct ExportTrailer: Hashable, Sendable {
    public var path: StorePath
    public var references: [StorePath]
    public var deriver: StorePath?
    /// Guix: the canonical s-expression signature over the item (§5.4); nil if unsigned.
    public var signature: [UInt8]?

    public init(path: StorePath, references: [StorePath], deriver: StorePath?, signature: [UInt8]?) {
        self.path = path; self.references = references; self.deriver = deriver; self.signature = signature
    }
}

public final class ExportStreamReader {
    /// "NIXE", exportMagic in Nix/Guix store-api.cc.
    public static let exportMagic: UInt64 = 0x4558_494e
    public let reader: WireReader
    public let context: StoreContext
    private var current: NarDelimiter?

    public init(_ reader: WireReader, _ context: StoreContext) {
        self.reader = reader
        self.context = context
    }

    /// Advances to the next item; returns its NAR as a source, or nil at the end marker.
    public func nextItem() throws(WorkerProtocolError) -> NarDelimiter? {
        let at = reader.offset
        switch try reader.readU64() {
        case 0: return nil
        case 1:
            let nar = NarDelimiter(reader)
            current = nar
            return nar
        case let other: throw .invalidValue(field: "export item marker", text: String(other), reason: "at byte \(at), expected 0 or 1")
        }
    }

    /// Reads the current item's trailer (consuming what is left of its NAR first).
    public func trailer() throws(WorkerProtocolError) -> ExportTrailer {
        try current?.finish()
        current = nil
        let at = reader.offset
        let magic = try reader.readU64()
        guard magic == Self.exportMagic else {
            throw .invalidValue(field: "export magic", text: "0x" + String(magic, radix: 16), reason: "at byte \(at), expected 0x4558494e")
        }
        let path = try reader.readStorePath(context, "exported path")
        let refs = try reader.readStorePaths(context, "exported references")
        let deriver = try reader.readOptionalStorePath(context, "exported deriver")
        let signature: [UInt8]? = try reader.readBool("hasSignature")
            ? try reader.readByteString("signature", limit: reader.limits.shortString) : nil
        return ExportTrailer(path: path, references: refs, deriver: deriver, signature: signature)
    }
}

/// Writes the trailer that follows an item's NAR (the caller writes `u64 1` and the NAR).
public func writeExportTrailer(_ t: ExportTrailer, to w: WireWriter, _ context: StoreContext) throws(WorkerProtocolError) {
    try w.writeU64(ExportStreamReader.exportMagic)
    try w.writeStorePath(t.path, context)
    try w.writeStorePathSet(t.references, context)
    try w.writeOptionalStorePath(t.deriver, context)
    if let signature = t.signature {
        try w.writeU64(1)
        try w.writeByteString(signature)
    } else {
        try w.writeU64(0)
    }
}
