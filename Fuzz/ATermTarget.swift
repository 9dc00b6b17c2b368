import StoreFormats
import WorkerProtocol

/// `.drv` parsing: any bytes as an ATerm under both store directories. Must never trap; a
/// parsed derivation must render back to exactly its input, and survive the BuildDerivation
/// wire record (WorkerProtocol's `WireDerivation`) unchanged.
enum ATermTarget {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        for (store, context) in [(StoreDirectory.nix, StoreContext.nix), (.guix, StoreContext(storeDirectory: .guix, rules: .nix))] {
            guard let derivation = try? Derivation(aterm: bytes, store: store) else { continue }
            precondition(derivation.render(in: store).elementsEqual(bytes), "ATerm does not round-trip")
            var basic = derivation
            basic.inputDerivations = [:]
            precondition((try? WireDerivation(basic, context).derivation(context)) == basic, "wire record does not round-trip")
        }
    }
}
