/// libgcrypt s-expressions (formats.md §5.4), the form of Guix's keys, ACL and signatures.
///
/// Read: the canonical form (`(4:data(5:flags7:rfc6979))`, length-prefixed raw bytes) and the
/// advanced form Guix writes (tokens, `#hex#`, `"quoted"`, `|base64|`, free whitespace), both
/// as libgcrypt's `gcry_sexp_new` reads them, minus display hints (`[hint]`), which no Guix key or
/// signature uses. Written: always canonical, which is what goes to libgcrypt and what two
/// expressions are compared by. Limits (input size, depth, element count) raise errors.
public indirect enum SExpression: Hashable, Sendable, CustomStringConvertible {
    case atom([UInt8])
    case list([SExpression])

    /// Far above a key or a signature (~500 bytes); an ACL of many keys fits.
    public static let maxInputSize = 1 << 20
    /// The deepest nesting accepted (a signature nests 4 deep).
    public static let maxDepth = 32

    /// A token atom, e.g. `.token("sig-val")`.
    public static func token(_ text: String) -> SExpression { .atom(Array(text.utf8)) }

    public init(parsing bytes: some Collection<UInt8>) throws(FormatError) {
        var reader = SExpressionReader(Array(bytes))
        self = try reader.readDocument()
    }

    public init(parsing text: String) throws(FormatError) {
        try self.init(parsing: Array(text.utf8))
    }

    // MARK: access

    public var atomBytes: [UInt8]? {
        if case .atom(let bytes) = self { bytes } else { nil }
    }

    public var elements: [SExpression]? {
        if case .list(let elements) = self { elements } else { nil }
    }

    /// The first element of a list when it is an atom: the list's name, as in `(q #…#)`.
    public var head: [UInt8]? { elements?.first?.atomBytes }

    /// Whether this is a list named `name`.
    public func isList(named name: String) -> Bool { head == Array(name.utf8) }

    /// The first list named `name` in depth-first order, this one included
    /// (libgcrypt's `gcry_sexp_find_token`).
    public func find(_ name: String) -> SExpression? {
        if isList(named: name) { return self }
        for element in elements ?? [] {
            if let found = element.find(name) { return found }
        }
        return nil
    }

    /// The atom after the name of the list `(name value)` found by `find(name)`.
    public func value(_ name: String) -> [UInt8]? {
        guard let list = find(name)?.elements, list.count >= 2 else { return nil }
        return list[1].atomBytes
    }

    // MARK: rendering

    /// The canonical encoding: `(`, elements, `)`; an atom is `<decimal length>:<bytes>`.
    public var canonical: [UInt8] {
        var out: [UInt8] = []
        appendCanonical(to: &out)
        return out
    }

    private func appendCanonical(to out: inout [UInt8]) {
        switch self {
        case .atom(let bytes):
            out += Array(String(bytes.count).utf8)
            out.append(UInt8(ascii: ":"))
            out += bytes
        case .list(let elements):
            out.append(UInt8(ascii: "("))
            for element in elements { element.appendCanonical(to: &out) }
            out.append(UInt8(ascii: ")"))
        }
    }

    /// A readable one-line advanced form: tokens bare, other atoms as `#HEX#`.
    public var description: String {
        switch self {
        case .atom(let bytes):
            if let first = bytes.first, SExpressionReader.isTokenStart(first),
               bytes.allSatisfy(SExpressionReader.isTokenCharacter) {
                return String(decoding: bytes, as: UTF8.self)
            }
            return "#" + Base16.encode(bytes).uppercased() + "#"
        case .list(let elements):
            return "(" + elements.map(\.description).joined(separator: " ") + ")"
        }
    }
}

/// The reader behind `SExpression(parsing:)`: one pass over the bytes, an explicit stack.
struct SExpressionReader {
    let bytes: [UInt8]
    var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    static func isTokenStart(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "/"), UInt8(ascii: "_"),
             UInt8(ascii: ":"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "="):
            true
        default:
            false
        }
    }

    static func isTokenCharacter(_ c: UInt8) -> Bool {
        isTokenStart(c) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c)
    }

    static func isSpace(_ c: UInt8) -> Bool {
        c == 0x20 || (0x09...0x0D).contains(c)
    }

    func fail(_ reason: String, at position: Int? = nil) -> FormatError {
        .invalidSExpression(offset: position ?? offset, reason: reason)
    }

    mutating func skipSpace() {
        while offset < bytes.count && Self.isSpace(bytes[offset]) { offset += 1 }
    }

    /// Exactly one list, with only whitespace around it.
    mutating func readDocument() throws(FormatError) -> SExpression {
        guard bytes.count <= SExpression.maxInputSize else {
            throw fail("\(bytes.count) bytes, the limit is \(SExpression.maxInputSize)", at: 0)
        }
        skipSpace()
        guard offset < bytes.count, bytes[offset] == UInt8(ascii: "(") else {
            throw fail("expected '(' to open the expression")
        }
        let expression = try readList()
        skipSpace()
        guard offset == bytes.count else { throw fail("bytes after the closing ')'") }
        return expression
    }

    /// Reads from an opening `(` to its matching `)`.
    mutating func readList() throws(FormatError) -> SExpression {
        var stack: [[SExpression]] = []
        var current: [SExpression] = []
        offset += 1  // the '(' the caller saw
        while true {
            skipSpace()
            guard offset < bytes.count else { throw fail("unterminated list") }
            let c = bytes[offset]
            switch c {
            case UInt8(ascii: "("):
                guard stack.count + 1 < SExpression.maxDepth else {
                    throw fail("nested deeper than \(SExpression.maxDepth)")
                }
                offset += 1
                stack.append(current)
                current = []
            case UInt8(ascii: ")"):
                offset += 1
                guard var parent = stack.popLast() else { return .list(current) }
                parent.append(.list(current))
                current = parent
            default:
                current.append(.atom(try readAtom()))
            }
        }
    }

    mutating func readAtom() throws(FormatError) -> [UInt8] {
        let start = offset
        let c = bytes[offset]
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"):
            return try readLengthPrefixed()
        case UInt8(ascii: "#"):
            return try readHex()
        case UInt8(ascii: "\""):
            return try readQuoted()
        case UInt8(ascii: "|"):
            offset += 1
            var text: [UInt8] = []
            while offset < bytes.count && bytes[offset] != UInt8(ascii: "|") {
                if !Self.isSpace(bytes[offset]) { text.append(bytes[offset]) }
                offset += 1
            }
            guard offset < bytes.count else { throw fail("unterminated |base64|", at: start) }
            offset += 1
            guard let decoded = Base64.decode(String(decoding: text, as: UTF8.self)) else {
                throw fail("bad base64 between '|'", at: start)
            }
            return decoded
        case UInt8(ascii: "["):
            throw fail("display hints are not supported")
        default:
            guard Self.isTokenStart(c) else {
                throw fail("unexpected byte 0x\(String(c, radix: 16))")
            }
            while offset < bytes.count && Self.isTokenCharacter(bytes[offset]) { offset += 1 }
            return Array(bytes[start..<offset])
        }
    }

    /// `<decimal>:<that many raw bytes>`, the canonical atom.
    mutating func readLengthPrefixed() throws(FormatError) -> [UInt8] {
        let start = offset
        var length = 0
        while offset < bytes.count, let digit = Self.digit(bytes[offset]) {
            // No leading zeros: they would give one atom two spellings (libgcrypt agrees).
            if offset > start && length == 0 { throw fail("length with a leading zero", at: start) }
            length = length * 10 + digit
            guard length <= bytes.count else { throw fail("length beyond the input", at: start) }
            offset += 1
        }
        guard offset < bytes.count, bytes[offset] == UInt8(ascii: ":") else {
            throw fail("expected ':' after a length (only canonical length prefixes are supported)")
        }
        offset += 1
        guard length <= bytes.count - offset else { throw fail("atom of \(length) bytes runs past the end", at: start) }
        defer { offset += length }
        return Array(bytes[offset..<offset + length])
    }

    mutating func readHex() throws(FormatError) -> [UInt8] {
        let start = offset
        offset += 1
        var digits: [UInt8] = []
        while offset < bytes.count && bytes[offset] != UInt8(ascii: "#") {
            if !Self.isSpace(bytes[offset]) { digits.append(bytes[offset]) }
            offset += 1
        }
        guard offset < bytes.count else { throw fail("unterminated #hex#", at: start) }
        offset += 1
        guard let decoded = Base16.decode(String(decoding: digits, as: UTF8.self)) else { throw fail("bad hex between '#'", at: start) }
        return decoded
    }

    mutating func readQuoted() throws(FormatError) -> [UInt8] {
        let start = offset
        offset += 1
        var out: [UInt8] = []
        while offset < bytes.count {
            let c = bytes[offset]
            offset += 1
            if c == UInt8(ascii: "\"") { return out }
            guard c == UInt8(ascii: "\\") else { out.append(c); continue }
            guard offset < bytes.count else { break }
            let e = bytes[offset]
            offset += 1
            switch e {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "v"): out.append(0x0B)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: "\\"): out.append(e)
            case 0x0A:  // backslash-newline: a line continuation
                if offset < bytes.count && bytes[offset] == 0x0D { offset += 1 }
            case 0x0D:
                if offset < bytes.count && bytes[offset] == 0x0A { offset += 1 }
            case UInt8(ascii: "x"):
                guard offset + 2 <= bytes.count, let byte = Base16.decode(String(decoding: bytes[offset..<offset + 2], as: UTF8.self))?.first else {
                    throw fail("bad \\x escape", at: offset - 2)
                }
                offset += 2
                out.append(byte)
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                var value = Int(e - UInt8(ascii: "0"))
                for _ in 0..<2 {
                    guard offset < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(bytes[offset]) else {
                        throw fail("octal escape needs three digits", at: offset)
                    }
                    value = value * 8 + Int(bytes[offset] - UInt8(ascii: "0"))
                    offset += 1
                }
                guard value <= 0xFF else { throw fail("octal escape above 255", at: offset - 4) }
                out.append(UInt8(value))
            default:
                throw fail("unknown escape '\\\(Character(Unicode.Scalar(e)))'", at: offset - 2)
            }
        }
        throw fail("unterminated string", at: start)
    }

    static func digit(_ c: UInt8) -> Int? {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) ? Int(c - UInt8(ascii: "0")) : nil
    }
}
