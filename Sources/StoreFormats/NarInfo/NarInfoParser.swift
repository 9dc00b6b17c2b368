/// Reading a narinfo (formats.md §5.1, §5.3; security.md §3.6). Stricter than Nix 2.8 where
/// strictness costs no real narinfo: every line is `Key: value` ending in LF and valid UTF-8;
/// a key that means one thing appears once; numbers are plain decimals; hashes, paths and
/// signatures must parse; the input is bounded. Errors name the 1-based line (0: the whole text).
extension NarInfo {
    /// An oversize narinfo is refused outright (security.md §3.6 suggests 1 MiB).
    public static let maxSize = 1 << 20

    public init(parsing text: String, in storeDirectory: StoreDirectory, rules: StorePathName.Rules = .nix) throws(FormatError) {
        try self.init(parsing: Array(text.utf8), in: storeDirectory, rules: rules)
    }

    public init(parsing bytes: some Collection<UInt8>, in storeDirectory: StoreDirectory, rules: StorePathName.Rules = .nix) throws(FormatError) {
        self = try NarInfoParser(storeDirectory: storeDirectory, rules: rules).parse(Array(bytes)).info
    }
}

struct NarInfoParser {
    let storeDirectory: StoreDirectory
    let rules: StorePathName.Rules

    struct Result {
        var info: NarInfo
        /// Byte offset where the `Signature:` line starts, if there is one.
        var signatureOffset: Int?
    }

    func parse(_ bytes: [UInt8]) throws(FormatError) -> Result {
        guard bytes.count <= NarInfo.maxSize else {
            throw .invalidNarInfo(line: 0, reason: "\(bytes.count) bytes, the limit is \(NarInfo.maxSize)")
        }
        guard bytes.last == 0x0A else {
            throw .invalidNarInfo(line: 0, reason: bytes.isEmpty ? "empty" : "the last line does not end in a newline")
        }
        var storePath: StorePath?
        var urls: [String] = [], compressions: [String] = [], fileHashes: [Hash] = [], fileSizes: [UInt64] = []
        var narHash: Hash?
        var narSize: UInt64?
        var references: [StorePath]?
        var deriver: StorePath?
        var system: String?
        var signatures: [NixSignature] = []
        var contentAddress: ContentAddress?
        var guixSignature: GuixSignature?
        var otherFields: [NarInfo.OtherField] = []
        var layout: [NarInfo.Field] = []
        var seen = Set<NarInfo.Field>()
        var signatureOffset: Int?

        var start = 0
        var number = 0
        while start < bytes.count {
            number += 1
            let line = number
            // The input ends in LF, so every line has one.
            var end = start
            while bytes[end] != 0x0A { end += 1 }
            let lineStart = start
            defer { start = end + 1 }
            func fail(_ reason: String) -> FormatError { .invalidNarInfo(line: line, reason: reason) }

            guard let colon = bytes[lineStart..<end].firstIndex(of: UInt8(ascii: ":")) else { throw fail("no ':' in the line") }
            // colon < end, and bytes[end] is the LF, so colon + 1 is in bounds.
            guard bytes[colon + 1] == UInt8(ascii: " ") else {
                throw fail("the ':' is not followed by a space")
            }
            let keyBytes = bytes[lineStart..<colon]
            guard !keyBytes.isEmpty, keyBytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw fail("a key is printable ASCII without spaces")
            }
            guard let value = String(validating: bytes[(colon + 2)..<end], as: UTF8.self) else {
                throw fail("the value is not UTF-8")
            }
            let field = NarInfo.Field(key: String(decoding: keyBytes, as: UTF8.self))
            switch field {
            case .url, .compression, .fileHash, .fileSize, .sig, .other:
                break
            default:
                guard seen.insert(field).inserted else { throw fail("\(field.key) appears twice") }
            }

            do throws(FormatError) {
                switch field {
                case .storePath:
                    storePath = try StorePath(parsing: value, in: storeDirectory, rules: rules)
                case .url:
                    guard !value.isEmpty else { throw fail("empty URL") }
                    urls.append(value)
                case .compression:
                    guard !value.isEmpty, !value.contains(" ") else { throw fail("Compression is one word") }
                    compressions.append(value)
                case .fileHash:
                    fileHashes.append(try Hash(parsing: value))
                case .fileSize:
                    fileSizes.append(try Self.decimal(value, line: line))
                case .narHash:
                    let hash = try Hash(parsing: value)
                    guard hash.algorithm == .sha256 else { throw fail("NarHash must be SHA-256") }
                    narHash = hash
                case .narSize:
                    let size = try Self.decimal(value, line: line)
                    guard size > 0 else { throw fail("NarSize is 0") }
                    narSize = size
                case .references:
                    var list: [StorePath] = []
                    if !value.isEmpty {
                        for name in value.split(separator: " ", omittingEmptySubsequences: false) {
                            guard !name.isEmpty else { throw fail("references are separated by single spaces") }
                            list.append(try StorePath(baseName: name, rules: rules))
                        }
                    }
                    guard Set(list).count == list.count else { throw fail("a reference is listed twice") }
                    references = list
                case .deriver:
                    // Nix writes no Deriver line when there is none; old caches wrote this.
                    if value == "unknown-deriver" { continue }
                    deriver = try StorePath(baseName: value, rules: rules)
                case .system:
                    system = value
                case .sig:
                    signatures.append(try NixSignature(parsing: value))
                case .ca:
                    contentAddress = try ContentAddress(parsing: value)
                case .signature:
                    guixSignature = try GuixSignature(parsing: value)
                    signatureOffset = lineStart
                case .other(let key):
                    otherFields.append(NarInfo.OtherField(key: key, value: value))
                }
            } catch {
                if case .invalidNarInfo = error { throw error }
                throw fail("\(field.key): \(error.description)")
            }
            layout.append(field)
        }

        func missing(_ key: String) -> FormatError { .invalidNarInfo(line: 0, reason: "no \(key) line") }
        guard let storePath else { throw missing("StorePath") }
        guard let narHash else { throw missing("NarHash") }
        guard let narSize else { throw missing("NarSize") }
        guard let references else { throw missing("References") }
        guard !urls.isEmpty else { throw missing("URL") }
        for (key, count) in [("Compression", compressions.count), ("FileHash", fileHashes.count), ("FileSize", fileSizes.count)]
        where count > urls.count {
            throw .invalidNarInfo(line: 0, reason: "\(count) \(key) lines for \(urls.count) URL lines")
        }
        let files = urls.indices.map { i in
            NarInfo.File(url: urls[i],
                         compression: i < compressions.count ? compressions[i] : nil,
                         fileHash: i < fileHashes.count ? fileHashes[i] : nil,
                         fileSize: i < fileSizes.count ? fileSizes[i] : nil)
        }
        let info = NarInfo(storeDirectory: storeDirectory, storePath: storePath, files: files, narHash: narHash,
                           narSize: narSize, references: references, deriver: deriver, system: system,
                           signatures: signatures, contentAddress: contentAddress, guixSignature: guixSignature,
                           otherFields: otherFields, layout: layout)
        return Result(info: info, signatureOffset: signatureOffset)
    }

    /// A plain decimal u64: digits only, no sign, no leading zero, no overflow.
    static func decimal(_ text: String, line: Int) throws(FormatError) -> UInt64 {
        let digits = Array(text.utf8)
        guard !digits.isEmpty, digits.count <= 20, digits.allSatisfy({ (0x30...0x39).contains($0) }),
              digits.count == 1 || digits[0] != 0x30 else {
            throw .invalidNarInfo(line: line, reason: "'\(text)' is not a plain decimal number")
        }
        var value: UInt64 = 0
        for d in digits {
            let (times, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times.addingReportingOverflow(UInt64(d - 0x30))
            guard !o1, !o2 else { throw .invalidNarInfo(line: line, reason: "'\(text)' does not fit in 64 bits") }
            value = sum
        }
        return value
    }
}
