import StoreFormats

/// `.drv` parsing: any bytes as an ATerm under both store directories. Must never trap; a
/// parsed derivation must render back to exactly its input, and survive the BuildDerivation
/// wire form. The same bytes are also fed to the wire decoder, which must never trap.
enum ATermTarget {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        for store in [StoreDirectory.nix, .guix] {
            guard let derivation = try? Derivation(aterm: bytes, store: store) else { continue }
            precondition(derivation.render(in: store).elementsEqual(bytes), "ATerm does not round-trip")
            var basic = derivation
            basic.inputDerivations = [:]
            let wire = basic.wireEncoding(in: store)
            precondition((try? Derivation(wire: wire, store: store)) == basic, "wire form does not round-trip")
        }
        var offset = 0
        _ = try? Derivation(wire: bytes, offset: &offset, store: .nix)
    }
}
