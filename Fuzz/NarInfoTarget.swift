import StoreFormats

/// narinfo parsing (formats.md §5): any bytes, as a Nix narinfo in /nix/store and as a Guix one
/// in /gnu/store. Must never trap; a parsed narinfo renders to text that parses back to an equal
/// value and renders identically; Guix signature checking on it must never trap either.
enum NarInfoTarget {
    /// The two real Guix signing keys of the vectors (berlin and bordeaux). Computed per use, not
    /// stored in a global: LeakSanitizer cannot see pointers kept in enum payload spare bits and
    /// would report a global's storage as leaked at exit.
    static var guixKeys: [GuixPublicKey] {
        [
            "8D156F295D24B0D9A86FA5741A840FF2D24F60F7B6C4134814AD55625971B394",
            "7D602902D3A2DBB83F8A0FB98602A754C5493B0B778C8D1DD4E0F41DE14DE34F",
        ].compactMap { try? GuixPublicKey(parsing: "(public-key (ecc (curve Ed25519) (q #\($0)#)))") }
    }

    static func run(_ bytes: UnsafeRawBufferPointer) {
        let input = Array(bytes)
        for (store, rules) in [(StoreDirectory.nix, StorePathName.Rules.nix), (.guix, .guix)] {
            guard let info = try? NarInfo(parsing: input, in: store, rules: rules) else { continue }
            let text = info.rendered
            guard let again = try? NarInfo(parsing: text, in: store, rules: rules) else {
                preconditionFailure("a rendered narinfo does not parse")
            }
            precondition(again == info, "narinfo render→parse changed the value")
            precondition(again.rendered == text, "narinfo rendering is not stable")
            _ = info.fingerprint
            if info.guixSignature != nil {
                _ = try? NarInfo(verifyingGuixSignatureOf: input, in: store, rules: rules, authorizedKeys: guixKeys)
            }
        }
    }
}
