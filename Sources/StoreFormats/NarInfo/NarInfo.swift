/// A narinfo (formats.md §5.1, §5.3): what a binary cache says about one store path. Text, one
/// `Key: value` per LF-terminated line:
///
///     StorePath: /gnu/store/<hash>-<name>         required, once
///     URL / Compression / FileHash / FileSize     one group per offered file (Guix offers
///                                                 several; the n-th of each key is file n)
///     NarHash: sha256:<nix32>                     required, once
///     NarSize: <decimal, > 0>                     required, once
///     References: <base name> …                   required, once (may be empty)
///     Deriver: <base name>                        optional (`unknown-deriver` = none)
///     System: <system>                            optional
///     Sig: <key>:<base64>                         Nix signatures, any number
///     CA: <content address>                       optional
///     Signature: 1;<host>;<base64 sexp>           Guix signature, optional, once
///
/// Other keys are kept as they are. The order of the lines is kept (`layout`) so that a parsed
/// narinfo renders back byte for byte; Guix signs the bytes before `Signature:`.
public struct NarInfo: Hashable, Sendable {
    /// One compressed file offered for the NAR.
    public struct File: Hashable, Sendable {
        public var url: String
        /// nil: no `Compression` line (Nix then assumes bzip2).
        public var compression: String?
        public var fileHash: Hash?
        public var fileSize: UInt64?

        public init(url: String, compression: String? = nil, fileHash: Hash? = nil, fileSize: UInt64? = nil) {
            self.url = url
            self.compression = compression
            self.fileHash = fileHash
            self.fileSize = fileSize
        }
    }

    /// A line whose key this type does not interpret.
    public struct OtherField: Hashable, Sendable {
        public var key: String
        public var value: String
    }

    /// The keys, in the order `layout` records them.
    public enum Field: Hashable, Sendable {
        case storePath, url, compression, fileHash, fileSize, narHash, narSize, references
        case deriver, system, sig, ca, signature
        case other(String)

        public var key: String {
            switch self {
            case .storePath: "StorePath"
            case .url: "URL"
            case .compression: "Compression"
            case .fileHash: "FileHash"
            case .fileSize: "FileSize"
            case .narHash: "NarHash"
            case .narSize: "NarSize"
            case .references: "References"
            case .deriver: "Deriver"
            case .system: "System"
            case .sig: "Sig"
            case .ca: "CA"
            case .signature: "Signature"
            case .other(let key): key
            }
        }

        static let known: [String: Field] = Dictionary(uniqueKeysWithValues:
            [Field.storePath, .url, .compression, .fileHash, .fileSize, .narHash, .narSize, .references,
             .deriver, .system, .sig, .ca, .signature].map { ($0.key, $0) })

        init(key: String) { self = Self.known[key] ?? .other(key) }
    }

    public var storeDirectory: StoreDirectory
    public var storePath: StorePath
    public var files: [File]
    /// Always SHA-256: that is what the fingerprint signs.
    public var narHash: Hash
    public var narSize: UInt64
    /// As listed (old caches have unsorted lists; the fingerprint sorts).
    public var references: [StorePath]
    public var deriver: StorePath?
    public var system: String?
    public var signatures: [NixSignature]
    public var contentAddress: ContentAddress?
    public var guixSignature: GuixSignature?
    public var otherFields: [OtherField]
    /// The keys in line order. Rendering follows it and then appends, in Nix's order, any value
    /// it did not cover, so a value built in code needs no layout.
    public var layout: [Field]

    public init(storeDirectory: StoreDirectory, storePath: StorePath, files: [File], narHash: Hash, narSize: UInt64,
                references: [StorePath], deriver: StorePath? = nil, system: String? = nil,
                signatures: [NixSignature] = [], contentAddress: ContentAddress? = nil,
                guixSignature: GuixSignature? = nil, otherFields: [OtherField] = [], layout: [Field] = []) {
        self.storeDirectory = storeDirectory
        self.storePath = storePath
        self.files = files
        self.narHash = narHash
        self.narSize = narSize
        self.references = references
        self.deriver = deriver
        self.system = system
        self.signatures = signatures
        self.contentAddress = contentAddress
        self.guixSignature = guixSignature
        self.otherFields = otherFields
        self.layout = layout
    }

    /// What a Nix signature signs (§5.2):
    /// `1;<store path>;sha256:<nix32>;<NAR size>;<sorted full reference paths, comma-separated>`.
    public var fingerprint: String {
        let references = references.map { $0.absolute(in: storeDirectory) }
            .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        return "1;\(storePath.absolute(in: storeDirectory));\(narHash.prefixedNix32);\(narSize);"
            + references.joined(separator: ",")
    }

    // MARK: rendering

    /// The value of the `index`-th line with key `field`, nil if the narinfo has no such value.
    /// `others` is `otherFields` grouped by key (grouped once: a narinfo may have many lines).
    func value(of field: Field, _ index: Int, others: [String: [String]]) -> String? {
        func at<T>(_ array: [T], _ render: (T) -> String?) -> String? {
            index < array.count ? render(array[index]) : nil
        }
        let single = index == 0
        switch field {
        case .storePath: return single ? storePath.absolute(in: storeDirectory) : nil
        case .url: return at(files) { $0.url }
        case .compression: return at(files) { $0.compression }
        case .fileHash: return at(files) { $0.fileHash?.prefixedNix32 }
        case .fileSize: return at(files) { $0.fileSize.map { String($0) } }
        case .narHash: return single ? narHash.prefixedNix32 : nil
        case .narSize: return single ? String(narSize) : nil
        case .references: return single ? references.map(\.baseName).joined(separator: " ") : nil
        case .deriver: return single ? deriver?.baseName : nil
        case .system: return single ? system : nil
        case .sig: return at(signatures) { $0.description }
        case .ca: return single ? contentAddress?.description : nil
        case .signature: return single ? guixSignature?.description : nil
        case .other(let key): return at(others[key] ?? []) { $0 }
        }
    }

    /// Nix 2.8's `NarInfo::to_string` order, then Guix's signature; every possible line once.
    var defaultOrder: [(Field, Int)] {
        var order: [(Field, Int)] = [(.storePath, 0)]
        for i in files.indices { order += [(.url, i), (.compression, i), (.fileHash, i), (.fileSize, i)] }
        order += [(.narHash, 0), (.narSize, 0), (.references, 0), (.deriver, 0), (.system, 0)]
        order += signatures.indices.map { (.sig, $0) }
        order.append((.ca, 0))
        var seen: [String: Int] = [:]
        for field in otherFields {
            order.append((.other(field.key), seen[field.key, default: 0]))
            seen[field.key, default: 0] += 1
        }
        order.append((.signature, 0))
        return order
    }

    /// The lines in rendering order.
    public var lines: [(key: String, value: String)] {
        var out: [(key: String, value: String)] = []
        var done = Set<Slot>()
        var counts: [Field: Int] = [:]
        let others = Dictionary(grouping: otherFields, by: \.key).mapValues { $0.map(\.value) }
        for field in layout {
            let index = counts[field, default: 0]
            counts[field] = index + 1
            if let value = value(of: field, index, others: others), done.insert(Slot(field: field, index: index)).inserted {
                out.append((field.key, value))
            }
        }
        for (field, index) in defaultOrder where !done.contains(Slot(field: field, index: index)) {
            if let value = value(of: field, index, others: others) { out.append((field.key, value)) }
        }
        return out
    }

    private struct Slot: Hashable {
        let field: Field
        let index: Int
    }

    /// The narinfo text: `Key: value\n` per line.
    public var rendered: String {
        lines.map { "\($0.key): \($0.value)\n" }.joined()
    }
}
