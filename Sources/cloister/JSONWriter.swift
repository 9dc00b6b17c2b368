/// JSON output for the CLI, laid out like Nix 2.8's (two-space indent, `"key": value`, `[]`
/// and `{}` when empty, keys in the order given). Strings are bytes: valid UTF-8 is copied,
/// and each byte that is not part of valid UTF-8 is shown as the character with that code
/// (U+0080–U+00FF, i.e. read as Latin-1), so `.drv` files written in Latin-1 read naturally
/// and the output is always valid JSON.
indirect enum JSONValue {
    case string([UInt8])
    case array([JSONValue])
    case object([(String, JSONValue)])
}

struct JSONWriter {
    var bytes: [UInt8] = []

    mutating func write(_ value: JSONValue, indent: Int = 0) {
        switch value {
        case .string(let s): string(s)
        case .array(let items):
            guard !items.isEmpty else { return append("[]") }
            append("[\n")
            for (i, item) in items.enumerated() {
                pad(indent + 2)
                write(item, indent: indent + 2)
                append(i + 1 < items.count ? ",\n" : "\n")
            }
            pad(indent)
            append("]")
        case .object(let members):
            guard !members.isEmpty else { return append("{}") }
            append("{\n")
            for (i, (key, item)) in members.enumerated() {
                pad(indent + 2)
                string(Array(key.utf8))
                append(": ")
                write(item, indent: indent + 2)
                append(i + 1 < members.count ? ",\n" : "\n")
            }
            pad(indent)
            append("}")
        }
    }

    private mutating func append(_ text: String) { bytes.append(contentsOf: text.utf8) }
    private mutating func pad(_ n: Int) { bytes.append(contentsOf: repeatElement(0x20, count: n)) }

    mutating func string(_ raw: [UInt8]) {
        bytes.append(0x22)
        for scalar in Self.scalars(raw) {
            switch scalar {
            case "\"": append("\\\"")
            case "\\": append("\\\\")
            case "\n": append("\\n")
            case "\r": append("\\r")
            case "\t": append("\\t")
            case "\u{08}": append("\\b")
            case "\u{0C}": append("\\f")
            case "\u{00}"..."\u{1F}", "\u{7F}":
                let hex = String(scalar.value, radix: 16)
                append("\\u" + String(repeating: "0", count: 4 - hex.count) + hex)
            default: bytes.append(contentsOf: String(Character(scalar)).utf8)
            }
        }
        bytes.append(0x22)
    }

    /// A key made of bytes, as text.
    static func text(_ raw: [UInt8]) -> String {
        var s = String.UnicodeScalarView()
        s.append(contentsOf: scalars(raw))
        return String(s)
    }

    /// Decodes UTF-8, turning each byte of an invalid sequence into U+0000+byte.
    static func scalars(_ raw: [UInt8]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(raw.count)
        var i = 0
        while i < raw.count {
            let b = raw[i]
            let length = b < 0x80 ? 1 : b >= 0xC2 && b <= 0xDF ? 2 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xF0 && b <= 0xF4 ? 4 : 0
            if length > 0, i + length <= raw.count,
               let decoded = String(validating: raw[i..<i + length], as: UTF8.self)?.unicodeScalars,
               decoded.count == 1, let scalar = decoded.first {
                out.append(scalar)
                i += length
            } else {
                out.append(Unicode.Scalar(b))
                i += 1
            }
        }
        return out
    }
}
