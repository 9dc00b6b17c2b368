/// How store paths are computed (formats.md §2.2–§2.5):
///
///     fingerprint = type ":sha256:" base16(innerHash) ":" storeDir ":" name
///     path        = storeDir "/" nix32(xorFold20(sha256(fingerprint))) "-" name
extension StoreDirectory {
    /// The fingerprint string whose SHA-256, folded to 20 bytes, is the path's hash part.
    public func fingerprint(type: String, innerHash: Hash, name: String) -> String {
        "\(type):sha256:\(innerHash.base16):\(path):\(name)"
    }

    /// makeStorePath: `innerHash` must be a SHA-256.
    public func makeStorePath(type: String, innerHash: Hash, name: String, rules: StorePathName.Rules = .nix) throws(FormatError) -> StorePath {
        guard innerHash.algorithm == .sha256 else {
            throw .invalidHash(innerHash.prefixedBase16, reason: "store path inner hashes are SHA-256")
        }
        // The fingerprint's bytes built in place (this runs per path-info query for Nix's `ca`).
        var bytes: [UInt8] = []
        bytes.reserveCapacity(type.utf8.count + 9 + 2 * innerHash.bytes.count + path.utf8.count + name.utf8.count)
        bytes.append(contentsOf: type.utf8)
        bytes.append(contentsOf: ":sha256:".utf8)
        for byte in innerHash.bytes {
            bytes.append(Base16.digits[Int(byte >> 4)])
            bytes.append(Base16.digits[Int(byte & 0x0F)])
        }
        bytes.append(UInt8(ascii: ":"))
        bytes.append(contentsOf: path.utf8)
        bytes.append(UInt8(ascii: ":"))
        bytes.append(contentsOf: name.utf8)
        let digest = Hasher.hash(.sha256, bytes)
        return try StorePath(digest: Self.compress(digest.bytes, to: StorePath.digestSize), name: name, rules: rules)
    }

    /// XOR-fold a digest to `size` bytes (Nix's compressHash).
    public static func compress(_ bytes: [UInt8], to size: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: size)
        for (i, b) in bytes.enumerated() { out[i % size] ^= b }
        return out
    }

    private static func typeWithReferences(_ type: String, _ references: [StorePath], in store: StoreDirectory) -> String {
        // References enter as full paths in byte order (a C++ std::set).
        let sorted = references.map { $0.absolute(in: store) }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        return sorted.reduce(type) { $0 + ":" + $1 }
    }

    /// A text object (`.drv`, `builtins.toFile`, addTextToStore), §2.3.
    public func makeTextPath(name: String, contentHash: Hash, references: [StorePath], rules: StorePathName.Rules = .nix) throws(FormatError) -> StorePath {
        try makeStorePath(type: Self.typeWithReferences("text", references, in: self), innerHash: contentHash, name: name, rules: rules)
    }

    /// A text object from its contents.
    public func makeTextPath(name: String, contents: [UInt8], references: [StorePath], rules: StorePathName.Rules = .nix) throws(FormatError) -> StorePath {
        try makeTextPath(name: name, contentHash: Hasher.hash(.sha256, contents), references: references, rules: rules)
    }

    /// A content-addressed object, §2.4. Only recursive SHA-256 may have references.
    public func makeFixedOutputPath(method: IngestionMethod, hash: Hash, name: String, references: [StorePath] = [], hasSelfReference: Bool = false, rules: StorePathName.Rules = .nix) throws(FormatError) -> StorePath {
        if method == .recursive && hash.algorithm == .sha256 {
            var type = Self.typeWithReferences("source", references, in: self)
            if hasSelfReference { type += ":self" }
            return try makeStorePath(type: type, innerHash: hash, name: name, rules: rules)
        }
        guard references.isEmpty && !hasSelfReference else {
            throw .invalidStorePath(name, reason: "only recursive SHA-256 objects may have references")
        }
        let preimage = "fixed:out:\(method.prefix)\(hash.algorithm.rawValue):\(hash.base16):"
        return try makeStorePath(type: "output:out", innerHash: Hasher.hash(.sha256, preimage), name: name, rules: rules)
    }

    /// The path of output `outputName` of a derivation named `derivationName` whose masked
    /// hashDerivationModulo is `hashModulo`, §2.5.
    public func makeOutputPath(outputName: String, hashModulo: Hash, derivationName: String, rules: StorePathName.Rules = .nix) throws(FormatError) -> StorePath {
        let name = outputName == "out" ? derivationName : "\(derivationName)-\(outputName)"
        return try makeStorePath(type: "output:\(outputName)", innerHash: hashModulo, name: name, rules: rules)
    }
}

/// How a file system object is hashed for content addressing.
public enum IngestionMethod: Sendable, Hashable {
    /// The raw bytes of a single regular file.
    case flat
    /// The NAR serialisation.
    case recursive

    /// The `r:` prefix that marks recursive hashing in `.drv` tuples and CA strings.
    public var prefix: String { self == .recursive ? "r:" : "" }
}
