/// hashDerivationModulo (formats.md §4.5): the SHA-256 that input-addressed output paths and
/// DrvOutput ids come from. A fixed-output derivation hashes to
/// `SHA256("fixed:out:" + hashAlgo + ":" + base16 + ":" + outPath)`, so only its content and
/// path reach its dependents; any other derivation hashes to the SHA-256 of its ATerm with
/// each input derivation's path replaced by the base16 of that input's (unmasked) hash,
/// inputs with equal hashes merged into one entry with the union of their output names (Nix's
/// rule; Guix keeps both tuples, which differs only in the theoretical case of §4.5).
///
/// Input derivations come from a resolver, so the same code hashes files on disk, a store's
/// database, or an in-memory table; each input's hash is computed once per hasher.
public struct DerivationHasher {
    public typealias Resolver = (StorePath) throws(FormatError) -> Derivation

    public let store: StoreDirectory
    private let resolve: Resolver
    /// Unmasked ("as input") hashes by derivation path.
    private var cache: [StorePath: Hash] = [:]
    /// Deepest chain of input derivations followed before giving up: real graphs are a few
    /// hundred deep; a resolver that makes a cycle must end in an error, not a stack overflow.
    public var maxDepth = 2048

    public init(store: StoreDirectory, resolve: @escaping Resolver) {
        self.store = store
        self.resolve = resolve
    }

    /// A hasher for derivations without input derivations (or whose inputs are all cached).
    public init(store: StoreDirectory) {
        self.init(store: store) { (path: StorePath) throws(FormatError) -> Derivation in
            throw .unresolvedDerivation(path.absolute(in: store), reason: "no resolver given")
        }
    }

    /// The hash of `derivation`. `maskOutputs` gives the flavour its own output paths and
    /// DrvOutput ids are computed from (output paths and output env variables blanked);
    /// without it, the flavour that stands for it as an input of another derivation.
    public mutating func hashModulo(_ derivation: Derivation, maskOutputs: Bool) throws(FormatError) -> Hash {
        try hashModulo(derivation, maskOutputs: maskOutputs, depth: 0)
    }

    /// The "as input" hash of the derivation at `path`, loaded through the resolver once.
    public mutating func hashModulo(of path: StorePath) throws(FormatError) -> Hash {
        try inputHash(path, depth: 0)
    }

    /// The ATerm that a non-fixed derivation's hash is the SHA-256 of (for tests and debugging).
    public mutating func moduloATerm(_ derivation: Derivation, maskOutputs: Bool) throws(FormatError) -> [UInt8] {
        try moduloATerm(derivation, maskOutputs: maskOutputs, depth: 0)
    }

    private mutating func hashModulo(_ derivation: Derivation, maskOutputs: Bool, depth: Int) throws(FormatError) -> Hash {
        if let fixed = derivation.fixedOutput {
            let preimage = "fixed:out:\(fixed.method.prefix)\(fixed.hash.algorithm.rawValue):\(fixed.hash.base16):\(fixed.path.absolute(in: store))"
            return Hasher.hash(.sha256, preimage)
        }
        return Hasher.hash(.sha256, try moduloATerm(derivation, maskOutputs: maskOutputs, depth: depth))
    }

    private mutating func moduloATerm(_ derivation: Derivation, maskOutputs: Bool, depth: Int) throws(FormatError) -> [UInt8] {
        var merged: [String: Set<String>] = [:]
        for (path, outputs) in derivation.inputDerivations {
            let key = try inputHash(path, depth: depth + 1).base16
            merged[key, default: []].formUnion(outputs)
        }
        let inputs = merged
            .map { (key: Array($0.key.utf8), outputs: $0.value) }
            .sorted { $0.key.lexicographicallyPrecedes($1.key) }
        return derivation.render(in: store, inputs: inputs, maskOutputs: maskOutputs)
    }

    private mutating func inputHash(_ path: StorePath, depth: Int) throws(FormatError) -> Hash {
        if let hash = cache[path] { return hash }
        guard depth <= maxDepth else {
            throw .unresolvedDerivation(path.absolute(in: store), reason: "input derivations nested deeper than \(maxDepth) (a cycle?)")
        }
        let derivation = try resolve(path)
        let hash = try hashModulo(derivation, maskOutputs: false, depth: depth)
        cache[path] = hash
        return hash
    }
}

/// A derivation output's realisation key `sha256:<base16 masked hashModulo>!<output>`
/// (formats.md §4.7), as in BuildResult `builtOutputs` and the Realisations table.
public struct DrvOutput: Hashable, Sendable, CustomStringConvertible {
    public let hash: Hash
    public let outputName: String

    public init(hash: Hash, outputName: String) {
        self.hash = hash
        self.outputName = outputName
    }

    public var description: String { "\(hash.prefixedBase16)!\(outputName)" }

    public init(parsing text: some StringProtocol) throws(FormatError) {
        let string = String(text)
        guard let bang = string.lastIndex(of: "!") else {
            throw .invalidHash(string, reason: "DrvOutput id without '!'")
        }
        let name = String(string[string.index(after: bang)...])
        guard !name.isEmpty, name.utf8.allSatisfy(StorePathName.isValidCharacter) else {
            throw .invalidHash(string, reason: "DrvOutput id has an invalid output name")
        }
        self.init(hash: try Hash(parsing: string[..<bang]), outputName: name)
    }
}
