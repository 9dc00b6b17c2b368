import StoreFormats

/// Store-path parsing (formats.md §2.1): any bytes as an absolute path and as a base name,
/// under both name rules. Must never trap; a parsed path renders back to its input; and the
/// verdict agrees with a separate, deliberately naive reading of the rules (security.md §5.6).
enum StorePathTarget {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        let text = String(decoding: bytes, as: UTF8.self)
        let input = Array(bytes)
        for rules in [StorePathName.Rules.nix, .guix] {
            if let path = try? StorePath(parsing: text, in: .guix, rules: rules) {
                // Compare bytes: String == is Unicode canonical equivalence.
                precondition(path.absolute(in: .guix).utf8.elementsEqual(text.utf8), "store path does not round-trip")
            }
            let parsed = try? StorePath(baseName: text, rules: rules)
            if let parsed {
                precondition(parsed.baseName.utf8.elementsEqual(text.utf8), "base name does not round-trip")
                precondition((try? StorePath(digest: parsed.digest, name: parsed.name, rules: rules)) == parsed,
                             "digest and name do not rebuild the path")
            }
            // Only a valid UTF-8 input can be compared byte for byte with the String reading.
            if Array(text.utf8) == input {
                precondition((parsed != nil) == naiveIsValid(input, rules), "parser and naive rules disagree")
            }
        }
    }

    /// 32 nix32 characters, '-', then 1…211 (Nix) or 1…222 with no leading '.' (Guix) name
    /// characters from `A-Za-z0-9+-._?=`.
    static func naiveIsValid(_ b: [UInt8], _ rules: StorePathName.Rules) -> Bool {
        let alphabet = Array("0123456789abcdfghijklmnpqrsvwxyz".utf8)
        let nameCharacters = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-._?=".utf8)
        guard b.count >= 34, b[32] == UInt8(ascii: "-") else { return false }
        guard b[..<32].allSatisfy({ alphabet.contains($0) }) else { return false }
        let name = b[33...]
        guard name.count <= (rules == .nix ? 211 : 222) else { return false }
        if rules == .guix && name.first == UInt8(ascii: ".") { return false }
        return name.allSatisfy { nameCharacters.contains($0) }
    }
}
