import StoreFormats

/// nix32 encoding of SHA-256 digests: a floor for everything that prints hashes.
enum Nix32Bench {
    static func run(_ work: BenchDirectory) throws {
        let digest = Hasher.hash(.sha256, Array("cloister".utf8))
        let count = 200_000
        let start = now()
        var total = 0
        for _ in 0..<count { total &+= NixBase32.encode(digest.bytes).utf8.count }
        let seconds = now() - start
        precondition(total == count * 52)
        report("nix32-encode", value: Double(count) / seconds / 1e6, unit: "M digests/s")
    }
}
