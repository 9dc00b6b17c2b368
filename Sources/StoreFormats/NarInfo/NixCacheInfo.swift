/// A binary cache's `nix-cache-info` (formats.md §5.1): `Key: value` lines, LF-terminated.
///
///     StoreDir: /gnu/store        required: the store the cache's paths belong to
///     WantMassQuery: 0|1          optional
///     Priority: <decimal>         optional (lower is preferred)
///
/// Other keys are ignored when read and not written. `guix publish` serves
/// `StoreDir: /gnu/store`, `WantMassQuery: 0`, `Priority: 100`.
public struct NixCacheInfo: Hashable, Sendable {
    public var storeDirectory: StoreDirectory
    public var wantMassQuery: Bool?
    public var priority: UInt64?

    public init(storeDirectory: StoreDirectory, wantMassQuery: Bool? = nil, priority: UInt64? = nil) {
        self.storeDirectory = storeDirectory
        self.wantMassQuery = wantMassQuery
        self.priority = priority
    }

    /// Errors are `.invalidNarInfo` with the 1-based line.
    public init(parsing text: String) throws(FormatError) {
        guard text.utf8.count <= 1 << 16 else { throw .invalidNarInfo(line: 0, reason: "nix-cache-info larger than 64 KiB") }
        guard text.hasSuffix("\n") else { throw .invalidNarInfo(line: 0, reason: "the last line does not end in a newline") }
        var storeDirectory: StoreDirectory?
        var wantMassQuery: Bool?
        var priority: UInt64?
        var seen = Set<String>()
        for (index, line) in text.dropLast().split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            guard let colon = line.firstIndex(of: ":"), line[line.index(after: colon)...].hasPrefix(" ") else {
                throw .invalidNarInfo(line: number, reason: "expected 'Key: value'")
            }
            let key = String(line[..<colon])
            let value = String(line[line.index(colon, offsetBy: 2)...])
            switch key {
            case "StoreDir", "WantMassQuery", "Priority":
                guard seen.insert(key).inserted else { throw .invalidNarInfo(line: number, reason: "\(key) appears twice") }
            default:
                continue
            }
            switch key {
            case "StoreDir":
                do { storeDirectory = try StoreDirectory(value) } catch {
                    throw .invalidNarInfo(line: number, reason: error.description)
                }
            case "WantMassQuery":
                guard value == "0" || value == "1" else { throw .invalidNarInfo(line: number, reason: "WantMassQuery is 0 or 1") }
                wantMassQuery = value == "1"
            default:
                priority = try NarInfoParser.decimal(value, line: number)
            }
        }
        guard let storeDirectory else { throw .invalidNarInfo(line: 0, reason: "no StoreDir line") }
        self.init(storeDirectory: storeDirectory, wantMassQuery: wantMassQuery, priority: priority)
    }

    public var rendered: String {
        var text = "StoreDir: \(storeDirectory.path)\n"
        if let wantMassQuery { text += "WantMassQuery: \(wantMassQuery ? 1 : 0)\n" }
        if let priority { text += "Priority: \(priority)\n" }
        return text
    }
}
