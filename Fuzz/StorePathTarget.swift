import StoreFormats

/// Store-path parsing: any bytes as an absolute path and as a base name, under both name rules.
/// Must never trap; a parsed path must render back to its input.
enum StorePathTarget {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        let text = String(decoding: bytes, as: UTF8.self)
        for rules in [StorePathName.Rules.nix, .guix] {
            if let path = try? StorePath(parsing: text, in: .guix, rules: rules) {
                precondition(path.absolute(in: .guix) == text, "store path does not round-trip")
            }
            if let path = try? StorePath(baseName: text, rules: rules) {
                precondition(path.baseName == text, "base name does not round-trip")
            }
        }
    }
}
