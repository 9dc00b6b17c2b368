import StoreFormats

/// ValidPathInfo on the wire (formats.md §6.5):
///
///     [string path]            only "with path" (AddToStore >= 25, AddToStoreNar, AddMultipleToStore)
///     string deriver           "" = none
///     string narHash           bare base16 SHA-256 (readers accept any spelling)
///     list   references        full paths, sorted
///     u64    registrationTime
///     u64    narSize
///     -- Nix minor >= 16 only:
///     u64    ultimate
///     list   sigs              "name:base64"
///     string ca                "" or a content address (§2.4)
///
/// Guix's QueryPathInfo reply is the pre-1.16 layout.
public struct PathInfoRecord: Hashable, Sendable {
    public var path: StorePath
    public var deriver: StorePath?
    public var narHash: Hash
    public var references: [StorePath]
    public var registrationTime: UInt64
    public var narSize: UInt64
    public var ultimate: Bool
    public var signatures: [String]
    /// The content address text, nil when the path is input-addressed.
    public var contentAddress: String?

    public init(path: StorePath, deriver: StorePath? = nil, narHash: Hash, references: [StorePath] = [],
                registrationTime: UInt64 = 0, narSize: UInt64, ultimate: Bool = false,
                signatures: [String] = [], contentAddress: String? = nil) {
        self.path = path
        self.deriver = deriver
        self.narHash = narHash
        self.references = references
        self.registrationTime = registrationTime
        self.narSize = narSize
        self.ultimate = ultimate
        self.signatures = signatures
        self.contentAddress = contentAddress
    }

    /// Reads the record; `path` is read from the wire when `withPath`, else taken from `knownPath`.
    public static func decode(from r: WireReader, _ v: Negotiated, _ context: StoreContext,
                              withPath: Bool, knownPath: StorePath? = nil) throws(WorkerProtocolError) -> PathInfoRecord {
        let path: StorePath
        if withPath {
            path = try r.readStorePath(context, "path")
        } else if let knownPath {
            path = knownPath
        } else {
            throw .invalidValue(field: "path info", text: "", reason: "no path")
        }
        let deriver = try r.readOptionalStorePath(context, "deriver")
        let hashText = try r.readShortString("narHash")
        let narHash: Hash
        do { narHash = try Hash(parsing: hashText, defaultAlgorithm: .sha256) } catch { throw .format(error) }
        let references = try r.readStorePaths(context, "references")
        let registrationTime = try r.readU64()
        let narSize = try r.readU64()
        var info = PathInfoRecord(path: path, deriver: deriver, narHash: narHash, references: references,
                                  registrationTime: registrationTime, narSize: narSize)
        if v.pathInfoHasTrustFields {
            info.ultimate = try r.readBool("ultimate")
            info.signatures = try r.readStrings("sigs", countLimit: r.limits.smallCount)
            let ca = try r.readShortString("ca")
            info.contentAddress = ca.isEmpty ? nil : ca
        }
        return info
    }

    public func encode(to w: WireWriter, _ v: Negotiated, _ context: StoreContext, withPath: Bool) throws(WorkerProtocolError) {
        if withPath { try w.writeStorePath(path, context) }
        try w.writeOptionalStorePath(deriver, context)
        try w.writeBase16(narHash.bytes)
        try w.writeStorePathSet(references, context)
        try w.writeU64(registrationTime)
        try w.writeU64(narSize)
        if v.pathInfoHasTrustFields {
            try w.writeBool(ultimate)
            try w.writeStringSet(signatures)
            try w.writeString(contentAddress ?? "")
        }
    }
}
