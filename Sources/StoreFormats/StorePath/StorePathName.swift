/// The name part of a store path (formats.md §2.1): the characters `A-Z a-z 0-9 + - . _ ? =`,
/// at least one. Nix 2.8 caps it at 211 bytes and allows a leading dot; Guix's daemon rejects
/// any leading dot and sets no explicit length limit (`checkStoreName`), so a 212-byte name is
/// valid for Guix (store-paths.json). A base name longer than NAME_MAX (255) cannot exist on
/// disk, so the Guix rules stop at 255 - 33 = 222 bytes: a bound, not a Guix rule.
public enum StorePathName {
    public enum Rules: Sendable, Hashable {
        /// Nix 2.8: leading dot allowed.
        case nix
        /// Guix: no leading dot.
        case guix
    }

    /// Nix 2.8's limit (`32 + 1 + 211 = 244 < NAME_MAX`).
    public static let maxLength = 211
    /// The longest name whose base name fits in NAME_MAX.
    public static let maxGuixLength = 255 - StorePath.hashPartLength - 1

    public static func maxLength(_ rules: Rules) -> Int {
        rules == .nix ? maxLength : maxGuixLength
    }

    public static func isValidCharacter(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
             UInt8(ascii: "?"), UInt8(ascii: "="):
            true
        default:
            false
        }
    }

    /// What is wrong with a name, as data.
    public enum Fault: Equatable, Sendable {
        case empty
        case tooLong(Int, limit: Int)
        /// Guix only.
        case leadingDot
        case character(UInt8)

        public var reason: String {
            switch self {
            case .empty: "empty"
            case .tooLong(let count, let limit): "\(count) bytes, the limit is \(limit)"
            case .leadingDot: "names must not start with '.'"
            case .character(let c): "\(Self.show(c)) is not allowed"
            }
        }

        static func show(_ c: UInt8) -> String {
            c < 0x80 ? "'\(Character(Unicode.Scalar(c)))'" : "byte 0x\(String(c, radix: 16))"
        }
    }

    public static func validate(_ name: String, rules: Rules) throws(FormatError) {
        if let fault = fault(of: name, rules: rules) { throw .invalidStorePathName(name, fault) }
    }

    /// What is wrong with `name` under `rules`, or nil if it is a valid name.
    public static func fault(of name: String, rules: Rules) -> Fault? {
        // The common case (valid) in one pass without a copy; the checks below say what is wrong.
        let valid = name.utf8.withContiguousStorageIfAvailable { b in
            !b.isEmpty && b.count <= maxLength(rules) && !(rules == .guix && b[0] == UInt8(ascii: ".")) && b.allSatisfy(isValidCharacter)
        }
        if valid == true { return nil }
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty else { return .empty }
        guard bytes.count <= maxLength(rules) else { return .tooLong(bytes.count, limit: maxLength(rules)) }
        if rules == .guix && bytes[0] == UInt8(ascii: ".") { return .leadingDot }
        if let c = bytes.first(where: { !isValidCharacter($0) }) { return .character(c) }
        return nil
    }
}
