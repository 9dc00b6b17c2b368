/// A store derivation (formats.md §4): what to build and from what. The value is the parsed
/// content of a `.drv` file; store paths are held as `StorePath` and rendered in a
/// `StoreDirectory` given by the caller, so the same value renders under `/gnu/store` or
/// `/nix/store`.
///
/// Invariants a parsed value always has (and `render(in:)` relies on nothing else): output
/// names are store-name characters; a fixed output is the only output and is named `out`;
/// the platform contains no byte that the ATerm writer would have to escape (Nix 2.8 writes
/// it raw, §4.2). Builder, arguments and environment stay bytes: Guix and Nix put arbitrary,
/// possibly non-UTF-8, bytes there (`vectors/drv/*-latin1.drv`).
public struct Derivation: Hashable, Sendable {
    /// Output name → output. Rendered in byte order of the names.
    public var outputs: [String: DerivationOutput]
    /// Input derivation → the output names wanted from it.
    public var inputDerivations: [StorePath: Set<String>]
    public var inputSources: Set<StorePath>
    /// The system type, e.g. `x86_64-linux`.
    public var platform: String
    public var builder: [UInt8]
    /// Builder arguments, in order.
    public var args: [[UInt8]]
    public var env: [[UInt8]: [UInt8]]

    public init(
        outputs: [String: DerivationOutput],
        inputDerivations: [StorePath: Set<String>] = [:],
        inputSources: Set<StorePath> = [],
        platform: String,
        builder: [UInt8],
        args: [[UInt8]] = [],
        env: [[UInt8]: [UInt8]] = [:]
    ) {
        self.outputs = outputs
        self.inputDerivations = inputDerivations
        self.inputSources = inputSources
        self.platform = platform
        self.builder = builder
        self.args = args
        self.env = env
    }

    /// The single `out` output's fixed content address, if this is a fixed-output derivation
    /// (a fetcher): then network access is allowed while building and only the content is
    /// checked (§4.4).
    public var fixedOutput: (path: StorePath, method: IngestionMethod, hash: Hash)? {
        guard outputs.count == 1, case .fixed(let path, let method, let hash)? = outputs["out"] else { return nil }
        return (path, method, hash)
    }

    public var isFixedOutput: Bool { fixedOutput != nil }

    /// The environment value for a UTF-8 key.
    public subscript(env key: String) -> [UInt8]? { env[Array(key.utf8)] }

    /// Output names in the byte order the ATerm uses.
    public var sortedOutputNames: [String] { outputs.keys.sorted(by: Derivation.byteOrder) }

    /// Whether every output is one a daemon can build today: input-addressed or fixed. The
    /// floating, deferred and impure kinds (experimental in Nix 2.8, never made by Guix) are
    /// parsed and rendered faithfully but not built.
    public var unsupportedOutputKind: (name: String, output: DerivationOutput)? {
        for name in sortedOutputNames {
            guard let output = outputs[name] else { continue }
            switch output {
            case .inputAddressed, .fixed: continue
            case .floating, .deferred, .impure: return (name, output)
            }
        }
        return nil
    }

    /// Byte-wise order of UTF-8 strings (C++ `std::string` `<`), which is not Swift's `<`.
    public static func byteOrder(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    static func byteOrder(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.lexicographicallyPrecedes(b)
    }
}

/// One output of a derivation: the four strings of its ATerm tuple `(name, path, hashAlgo,
/// hash)` read as one of the kinds of formats.md §4.1.
public enum DerivationOutput: Hashable, Sendable {
    /// `(name, path, "", "")`: the path follows from the derivation's hash (§4.6).
    case inputAddressed(StorePath)
    /// `(out, path, [r:]algo, base16)`: a fetcher whose content is known in advance.
    case fixed(StorePath, method: IngestionMethod, hash: Hash)
    /// `(name, "", [r:]algo, "")`: content-addressed, path known after the build (experimental).
    case floating(method: IngestionMethod, algorithm: HashAlgorithm)
    /// `(name, "", "", "")`: path not yet known because an input is floating (experimental).
    case deferred
    /// `(name, "", [r:]algo, "impure")` (experimental).
    case impure(method: IngestionMethod, algorithm: HashAlgorithm)

    /// The output path if the derivation fixes it.
    public var path: StorePath? {
        switch self {
        case .inputAddressed(let path), .fixed(let path, _, _): path
        case .floating, .deferred, .impure: nil
        }
    }

    /// The tuple's `hashAlgo` field: `r:sha256`, `sha1`, or empty.
    public var hashAlgoField: String {
        switch self {
        case .inputAddressed, .deferred: ""
        case .fixed(_, let method, let hash): method.prefix + hash.algorithm.rawValue
        case .floating(let method, let algorithm), .impure(let method, let algorithm): method.prefix + algorithm.rawValue
        }
    }

    /// The tuple's `hash` field: the base16 digest of a fixed output, `impure`, or empty.
    public var hashField: String {
        switch self {
        case .fixed(_, _, let hash): hash.base16
        case .impure: "impure"
        case .inputAddressed, .floating, .deferred: ""
        }
    }

    /// Reads the three strings after the name. A failure names the field (1 path, 2 hashAlgo,
    /// 3 hash) so the caller can point at its offset.
    static func fromFields(path: [UInt8], hashAlgo: [UInt8], hash: [UInt8], store: StoreDirectory, rules: StorePathName.Rules) throws(OutputFieldError) -> DerivationOutput {
        if path.isEmpty {
            if hashAlgo.isEmpty {
                guard hash.isEmpty else { throw OutputFieldError(field: 3, reason: "hash without hashAlgo") }
                return .deferred
            }
            let (method, algorithm) = try methodAndAlgorithm(hashAlgo)
            if hash.isEmpty { return .floating(method: method, algorithm: algorithm) }
            guard hash == Array("impure".utf8) else {
                throw OutputFieldError(field: 1, reason: "fixed output without a path")
            }
            return .impure(method: method, algorithm: algorithm)
        }
        let storePath: StorePath
        do {
            storePath = try StorePath(parsing: String(decoding: path, as: UTF8.self), in: store, rules: rules)
        } catch {
            throw OutputFieldError(field: 1, reason: error.description)
        }
        if hashAlgo.isEmpty {
            guard hash.isEmpty else { throw OutputFieldError(field: 3, reason: "hash without hashAlgo") }
            return .inputAddressed(storePath)
        }
        let (method, algorithm) = try methodAndAlgorithm(hashAlgo)
        guard !hash.isEmpty else { throw OutputFieldError(field: 3, reason: "output with a path and hashAlgo but no hash") }
        // The .drv always holds lowercase base16 of the right length (§4.4); accepting other
        // spellings would make rendering differ from the input.
        guard hash.count == 2 * algorithm.size else {
            throw OutputFieldError(field: 3, reason: "\(hash.count) hex digits, \(algorithm.rawValue) needs \(2 * algorithm.size)")
        }
        guard hash.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }),
              let bytes = Base16.decode(String(decoding: hash, as: UTF8.self)),
              let digest = try? Hash(algorithm: algorithm, bytes: bytes) else {
            throw OutputFieldError(field: 3, reason: "hash is not lowercase base16")
        }
        return .fixed(storePath, method: method, hash: digest)
    }

    private static func methodAndAlgorithm(_ field: [UInt8]) throws(OutputFieldError) -> (IngestionMethod, HashAlgorithm) {
        var name = field[...]
        var method = IngestionMethod.flat
        if name.starts(with: [UInt8(ascii: "r"), UInt8(ascii: ":")]) {
            method = .recursive
            name = name.dropFirst(2)
        }
        guard let algorithm = HashAlgorithm(rawValue: String(decoding: name, as: UTF8.self)) else {
            throw OutputFieldError(field: 2, reason: "unknown hash algorithm '\(String(decoding: field, as: UTF8.self))'")
        }
        return (method, algorithm)
    }
}

/// Which of an output tuple's fields is wrong, and why.
struct OutputFieldError: Error {
    let field: Int
    let reason: String
}
