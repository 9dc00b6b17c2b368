/// Reads only the output list of a `.drv` (formats.md §4.1: `Derive([("out","/gnu/store/…","",""),
/// …],…`), which is all registration needs for DerivationOutputs. The full Derivation parser
/// lives in StoreFormats; the daemon can install it through `LocalStore.derivationOutputs`.
import StoreFormats

enum DerivationOutputsReader {
    static func read(_ path: StorePath, _ bytes: [UInt8]) throws(LocalStoreError) -> [(id: String, path: StorePath)] {
        var i = 0
        func fail(_ reason: String) -> LocalStoreError {
            .format(.invalidDerivation(offset: i, reason: "\(path.baseName): \(reason)"))
        }
        func expect(_ literal: String) throws(LocalStoreError) {
            for c in literal.utf8 {
                guard i < bytes.count, bytes[i] == c else { throw fail("expected '\(literal)'") }
                i += 1
            }
        }
        func string() throws(LocalStoreError) -> [UInt8] {
            try expect("\"")
            var out: [UInt8] = []
            while true {
                guard i < bytes.count else { throw fail("unterminated string") }
                let c = bytes[i]; i += 1
                if c == UInt8(ascii: "\"") { return out }
                if c == UInt8(ascii: "\\") {
                    guard i < bytes.count else { throw fail("unterminated escape") }
                    let e = bytes[i]; i += 1
                    switch e {
                    case UInt8(ascii: "n"): out.append(10)
                    case UInt8(ascii: "r"): out.append(13)
                    case UInt8(ascii: "t"): out.append(9)
                    default: out.append(e)
                    }
                } else {
                    out.append(c)
                }
            }
        }
        try expect("Derive([")
        var outputs: [(id: String, path: StorePath)] = []
        while i < bytes.count && bytes[i] != UInt8(ascii: "]") {
            if !outputs.isEmpty { try expect(",") }
            try expect("(")
            let id = String(decoding: try string(), as: UTF8.self)
            try expect(",")
            let pathText = String(decoding: try string(), as: UTF8.self)
            try expect(",")
            _ = try string()
            try expect(",")
            _ = try string()
            try expect(")")
            // Outputs sit in the same store as the .drv; only the base name is kept.
            let baseName = pathText.split(separator: "/").last ?? ""
            do { outputs.append((id, try StorePath(baseName: baseName, rules: .nix))) } catch { throw .format(error) }
        }
        try expect("]")
        return outputs
    }
}
