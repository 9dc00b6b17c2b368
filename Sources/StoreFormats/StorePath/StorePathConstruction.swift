/// How store paths are computed (formats.md §2.2–§2.5):
///
///     fingerprint = type ":sha256:" base16(innerHash) ":" storeDir ":" name
///     path        = storeDir "/" nix32(xorFold20(sha256(fingerprint))) "-" name
import CGcrypt
extension StoreDirectory {
    /// The fingerprint string whose SHA-256, folded to 20 bytes, is the path's hash part.
    public func fingerprint(type: String, innerHash: Hash, name: String) -> String {
        "\(type):sha256:\(innerHash.base16):\(path):\(name)"
    }

    /// makeStorePath: `innerHash` must be a SHA-256.
    public func makeStorePath(type: String, innerHash: Hash, name: String, rules: StorePathName.Rules = .nix) throws(FormatError) -> StorePath {
        try makeStorePath(fingerprint: try fingerprintBytes(type: type, innerHash: innerHash, name: name), name: name, rules: rules)
    }

    private func makeStorePath(fingerprint: [UInt8], name: String, rules: StorePathName.Rules) throws(FormatError) -> StorePath {
        try StorePath(digest: Self.foldedDigest(fingerprint), name: name, rules: rules)
    }

    /// The fingerprint's bytes, built in place: `type`, then `:<reference>` for each of
    /// `references` in byte order (a C++ std::set of full paths) and `:self`, then
    /// `:sha256:<base16 innerHash>:<storeDir>:<name>`. (This runs per path-info query for Nix's
    /// `ca`: one exact allocation, pieces copied whole.)
    func fingerprintBytes(type: String, references: [StorePath] = [], selfReference: Bool = false,
                          innerHash: Hash, name: String) throws(FormatError) -> [UInt8] {
        guard innerHash.algorithm == .sha256 else {
            throw .invalidHash(innerHash.prefixedBase16, reason: "store path inner hashes are SHA-256")
        }
        // One store directory and fixed-length hash parts: StorePath order is full-path byte order.
        let sorted = references.count > 1 ? references.sorted() : references
        var total = type.utf8.count + (selfReference ? 5 : 0) + 8 + 2 * innerHash.bytes.count + 1 + path.utf8.count + 1 + name.utf8.count
        for reference in sorted { total += 1 + path.utf8.count + 1 + StorePath.hashPartLength + 1 + reference.name.utf8.count }
        let directory = path
        return [UInt8](unsafeUninitializedCapacity: total) { out, initialized in
            var at = out.baseAddress!.copying(type)
            for reference in sorted {
                at = at.copying(UInt8(ascii: ":")).copying(directory).copying(UInt8(ascii: "/")).copying(reference.hashPart)
                    .copying(UInt8(ascii: "-")).copying(reference.name)
            }
            if selfReference { at = at.copying(":self") }
            at = at.copying(":sha256:")
            innerHash.bytes.withUnsafeBufferPointer { Base16.write($0, to: at) }
            at += 2 * innerHash.bytes.count
            at = at.copying(UInt8(ascii: ":")).copying(directory).copying(UInt8(ascii: ":")).copying(name)
            initialized = at - out.baseAddress!
        }
    }

    /// SHA-256 of `fingerprint`, XOR-folded to the 20 bytes of a hash part.
    static func foldedDigest(_ fingerprint: [UInt8]) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: StorePath.digestSize) { out, initialized in
            fold(fingerprint) { folded in out.baseAddress!.initialize(from: folded.baseAddress!, count: folded.count) }
            initialized = StorePath.digestSize
        }
    }

    /// Passes the folded SHA-256 of `fingerprint` to `body`, on the stack.
    private static func fold<R>(_ fingerprint: [UInt8], _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32 + StorePath.digestSize) { scratch in
            let sha256 = scratch.baseAddress!
            let folded = sha256 + 32
            fingerprint.withUnsafeBufferPointer { cg_md_hash(HashAlgorithm.sha256.gcryptAlgorithm, $0.baseAddress, $0.count, sha256) }
            folded.initialize(from: sha256, count: StorePath.digestSize)
            for i in StorePath.digestSize..<32 { folded[i - StorePath.digestSize] ^= sha256[i] }
            return body(UnsafeBufferPointer(start: folded, count: StorePath.digestSize))
        }
    }

    /// XOR-fold a digest to `size` bytes (Nix's compressHash).
    public static func compress(_ bytes: [UInt8], to size: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: size)
        for (i, b) in bytes.enumerated() { out[i % size] ^= b }
        return out
    }

    /// A text object (`.drv`, `builtins.toFile`, addTextToStore), §2.3.
    public func makeTextPath(name: String, contentHash: Hash, references: [StorePath], rules: StorePathName.Rules = .nix) throws(FormatError) -> StorePath {
        try makeStorePath(fingerprint: try fingerprintBytes(type: "text", references: references, innerHash: contentHash, name: name),
                          name: name, rules: rules)
    }

    /// A text object from its contents.
    public func makeTextPath(name: String, contents: [UInt8], references: [StorePath], rules: StorePathName.Rules = .nix) throws(FormatError) -> StorePath {
        try makeTextPath(name: name, contentHash: Hasher.hash(.sha256, contents), references: references, rules: rules)
    }

    /// A content-addressed object, §2.4. Only recursive SHA-256 may have references.
    public func makeFixedOutputPath(method: IngestionMethod, hash: Hash, name: String, references: [StorePath] = [], hasSelfReference: Bool = false, rules: StorePathName.Rules = .nix) throws(FormatError) -> StorePath {
        try makeStorePath(fingerprint: try fixedOutputFingerprint(method: method, hash: hash, name: name, references: references,
                                                                  hasSelfReference: hasSelfReference),
                          name: name, rules: rules)
    }

    /// Whether `makeFixedOutputPath` with these inputs and `path`'s name gives `path`, without
    /// building that StorePath: the folded digest is compared with `path`'s hash part as is.
    /// (Nix path-info queries ask this of every path, for its `ca`.)
    public func isFixedOutputPath(_ path: StorePath, method: IngestionMethod, hash: Hash, references: [StorePath] = [],
                                  hasSelfReference: Bool = false) -> Bool {
        guard let fingerprint = try? fixedOutputFingerprint(method: method, hash: hash, name: path.name, references: references,
                                                            hasSelfReference: hasSelfReference) else { return false }
        return Self.fold(fingerprint) { NixBase32.encodes($0, as: path.hashPart) }
    }

    private func fixedOutputFingerprint(method: IngestionMethod, hash: Hash, name: String, references: [StorePath],
                                        hasSelfReference: Bool) throws(FormatError) -> [UInt8] {
        if method == .recursive && hash.algorithm == .sha256 {
            return try fingerprintBytes(type: "source", references: references, selfReference: hasSelfReference, innerHash: hash, name: name)
        }
        guard references.isEmpty && !hasSelfReference else {
            throw .invalidStorePath(name, reason: "only recursive SHA-256 objects may have references")
        }
        let preimage = "fixed:out:\(method.prefix)\(hash.algorithm.rawValue):\(hash.base16):"
        return try fingerprintBytes(type: "output:out", innerHash: Hasher.hash(.sha256, preimage), name: name)
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
