/// A digest with its algorithm, and the text forms of formats.md §1.1: base16 (lowercase out,
/// either case in), nix32, base64, SRI `algo-base64`, and `algo:hash` with any of the three
/// encodings (told apart by length).
public struct Hash: Hashable, Sendable, CustomStringConvertible {
    public let algorithm: HashAlgorithm
    public let bytes: [UInt8]

    init(algorithm: HashAlgorithm, unchecked bytes: [UInt8]) {
        self.algorithm = algorithm
        self.bytes = bytes
    }

    public init(algorithm: HashAlgorithm, bytes: [UInt8]) throws(FormatError) {
        guard bytes.count == algorithm.size else {
            throw .invalidHash(Base16.encode(bytes), reason: "\(bytes.count) bytes, \(algorithm.rawValue) has \(algorithm.size)")
        }
        self.init(algorithm: algorithm, unchecked: bytes)
    }

    public var base16: String { Base16.encode(bytes) }
    public var nix32: String { NixBase32.encode(bytes) }
    public var base64: String { Base64.encode(bytes) }
    public var sri: String { "\(algorithm.rawValue)-\(base64)" }

    /// `algo:base16`, the form of the database's `hash` column and of DrvOutput ids.
    public var prefixedBase16: String { "\(algorithm.rawValue):\(base16)" }
    /// `algo:nix32`, the form of narinfo `NarHash` and `nix-store -q --hash`.
    public var prefixedNix32: String { "\(algorithm.rawValue):\(nix32)" }

    public var description: String { prefixedNix32 }

    /// Parses the digest of a known algorithm in base16, nix32 or base64, told apart by length.
    public init(parsing text: some StringProtocol, algorithm: HashAlgorithm) throws(FormatError) {
        let string = String(text)
        let n = algorithm.size
        let length = string.utf8.count
        if length == 2 * n {
            guard let bytes = Base16.decode(string) else { throw .invalidHash(string, reason: "not base16") }
            self.init(algorithm: algorithm, unchecked: bytes)
        } else if length == NixBase32.encodedLength(n) {
            do {
                self.init(algorithm: algorithm, unchecked: try NixBase32.decode(string, byteCount: n))
            } catch {
                throw .invalidHash(string, reason: error.description)
            }
        } else if length == Base64.encodedLength(n) {
            guard let bytes = Base64.decode(string), bytes.count == n else { throw .invalidHash(string, reason: "not base64") }
            self.init(algorithm: algorithm, unchecked: bytes)
        } else {
            throw .invalidHash(string, reason: "length \(length) fits no encoding of \(algorithm.rawValue)")
        }
    }

    /// Parses `algo:digest` (any encoding) or SRI `algo-base64`; with `defaultAlgorithm`, a bare
    /// digest is accepted too.
    public init(parsing text: some StringProtocol, defaultAlgorithm: HashAlgorithm? = nil) throws(FormatError) {
        if let fast = text.utf8.withContiguousStorageIfAvailable({ Self.prefixedSHA256Base16($0) }) ?? nil {
            self.init(algorithm: .sha256, unchecked: fast)
            return
        }
        try self.init(parsingSlowly: String(text), defaultAlgorithm: defaultAlgorithm)
    }

    /// The same for a String, without the generic's dispatch (the database's `hash` column is
    /// read on every path-info query).
    public init(parsing text: String, defaultAlgorithm: HashAlgorithm? = nil) throws(FormatError) {
        var text = text
        if let fast = text.withUTF8({ Self.prefixedSHA256Base16($0) }) {
            self.init(algorithm: .sha256, unchecked: fast)
            return
        }
        try self.init(parsingSlowly: text, defaultAlgorithm: defaultAlgorithm)
    }

    /// The digest of `sha256:<base16>`, the database's form, in one pass; nil for anything else.
    private static func prefixedSHA256Base16(_ b: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        // Byte comparisons (a generic `starts(with:)` over a UTF8View costs more than the decode).
        guard b.count == 7 + 64, b[0] == UInt8(ascii: "s"), b[1] == UInt8(ascii: "h"), b[2] == UInt8(ascii: "a"),
              b[3] == UInt8(ascii: "2"), b[4] == UInt8(ascii: "5"), b[5] == UInt8(ascii: "6"), b[6] == UInt8(ascii: ":") else { return nil }
        return Base16.decode(UnsafeBufferPointer(rebasing: b[7...]))
    }

    private init(parsingSlowly string: String, defaultAlgorithm: HashAlgorithm?) throws(FormatError) {
        if let colon = string.firstIndex(of: ":") {
            let algorithm = try HashAlgorithm(parsing: string[..<colon])
            try self.init(parsing: string[string.index(after: colon)...], algorithm: algorithm)
        } else if let dash = string.firstIndex(of: "-"), let algorithm = HashAlgorithm(rawValue: String(string[..<dash])) {
            let body = string[string.index(after: dash)...]
            guard let bytes = Base64.decode(body), bytes.count == algorithm.size else {
                throw .invalidHash(string, reason: "SRI digest is not \(algorithm.size) bytes of base64")
            }
            self.init(algorithm: algorithm, unchecked: bytes)
        } else if let algorithm = defaultAlgorithm {
            try self.init(parsing: string, algorithm: algorithm)
        } else {
            throw .invalidHash(string, reason: "no algorithm prefix")
        }
    }
}

/// Lowercase hexadecimal.
public enum Base16 {
    static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let direct: String? = bytes.withContiguousStorageIfAvailable { input in
            String(unsafeUninitializedCapacity: 2 * input.count) { out in
                write(input, to: out.baseAddress!)
                return 2 * input.count
            }
        }
        if let direct { return direct }
        var out: [UInt8] = []
        out.reserveCapacity(2 * bytes.underestimatedCount)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Writes the `2 * input.count` lowercase digits of `input` at `out` (a wire writer puts a
    /// NAR hash straight into its buffer, no string made).
    public static func write(_ input: UnsafeBufferPointer<UInt8>, to out: UnsafeMutablePointer<UInt8>) {
        digits.withUnsafeBufferPointer { digits in
            var at = out
            for byte in input {
                at.initialize(to: digits[Int(byte &>> 4)])
                (at + 1).initialize(to: digits[Int(byte & 0x0F)])
                at += 2
            }
        }
    }

    /// Accepts either case; nil on odd length or a non-hex character.
    public static func decode<Text: StringProtocol>(_ text: Text) -> [UInt8]? {
        if let decoded = text.utf8.withContiguousStorageIfAvailable({ decode($0) }) { return decoded }
        return Array(text.utf8).withUnsafeBufferPointer { decode($0) }
    }

    static func decode(_ chars: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        guard chars.count % 2 == 0 else { return nil }
        let count = chars.count / 2
        var invalid: UInt8 = 0
        // Table lookups written in place and checked once at the end (the database's hashes are
        // decoded per path-info query); wrapping arithmetic: indices are in range by construction.
        let out = [UInt8](unsafeUninitializedCapacity: count) { out, initialized in
            digitValues.withUnsafeBufferPointer { table in
                var i = 0
                while i < count {
                    let hi = table[Int(chars[i &* 2])], lo = table[Int(chars[i &* 2 &+ 1])]
                    invalid |= hi | lo
                    out[i] = hi &<< 4 | lo & 0x0F
                    i &+= 1
                }
            }
            initialized = count
        }
        // Digit values are below 16; 0xFF marks a non-digit.
        return invalid > 0x0F ? nil : out
    }

    /// Each byte's digit value (either case), 0xFF for a byte that is not a hexadecimal digit.
    private static let digitValues: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, c) in "0123456789abcdef".utf8.enumerated() { table[Int(c)] = UInt8(value) }
        for (value, c) in "ABCDEF".utf8.enumerated() { table[Int(c)] = UInt8(10 + value) }
        return table
    }()
}
