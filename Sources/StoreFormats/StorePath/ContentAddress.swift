/// Content addresses (formats.md §2.4): how a content-addressed store object's path was
/// computed, as stored in the database `ca` column, narinfo `CA:` and ValidPathInfo:
///
///     text:sha256:<nix32>            a text object (§2.3)
///     fixed:<algo>:<nix32>           flat hash of one regular file
///     fixed:r:<algo>:<nix32>         hash of the NAR serialisation
///
/// Digests are read in any spelling Nix 2.8 accepts (base16, nix32, base64, told apart by
/// length) and always written in nix32.
public enum ContentAddress: Hashable, Sendable, CustomStringConvertible {
    case text(Hash)
    case fixed(IngestionMethod, Hash)

    public var hash: Hash {
        switch self {
        case .text(let hash), .fixed(_, let hash): hash
        }
    }

    public var description: String {
        // Written into one string in place (interpolating or appending the pieces costs several
        // times more; Nix path-info replies carry one address per path).
        let hash = self.hash
        var head = ""
        switch self {
        case .text: head = "text:"
        case .fixed(let method, _): head = method == .recursive ? "fixed:r:" : "fixed:"
        }
        head += hash.algorithm.rawValue
        head += ":"
        let digits = NixBase32.encodedLength(hash.bytes.count)
        return String(unsafeUninitializedCapacity: head.utf8.count + digits) { out in
            let at = out.baseAddress!.copying(head)
            hash.bytes.withUnsafeBufferPointer { NixBase32.write($0, to: at) }
            return at + digits - out.baseAddress!
        }
    }

    public init(parsing text: some StringProtocol) throws(FormatError) {
        let string = String(text)
        if string.hasPrefix("text:") {
            let rest = string.dropFirst("text:".count)
            guard rest.hasPrefix("sha256:") else {
                throw .invalidHash(string, reason: "a text content address must use sha256")
            }
            self = .text(try Hash(parsing: rest.dropFirst("sha256:".count), algorithm: .sha256))
        } else if string.hasPrefix("fixed:") {
            let rest = string.dropFirst("fixed:".count)
            let recursive = rest.hasPrefix("r:")
            let body = recursive ? rest.dropFirst(2) : rest
            guard let colon = body.firstIndex(of: ":") else {
                throw .invalidHash(string, reason: "no ':' between algorithm and digest")
            }
            let algorithm = try HashAlgorithm(parsing: body[..<colon])
            let hash = try Hash(parsing: body[body.index(after: colon)...], algorithm: algorithm)
            self = .fixed(recursive ? .recursive : .flat, hash)
        } else {
            throw .invalidHash(string, reason: "a content address starts with 'text:' or 'fixed:'")
        }
    }

    /// The store path this content address gives an object called `name`.
    public func storePath(name: String, references: [StorePath] = [], hasSelfReference: Bool = false,
                          in store: StoreDirectory, rules: StorePathName.Rules = .nix) throws(FormatError) -> StorePath {
        switch self {
        case .text(let hash):
            guard !hasSelfReference else {
                throw .invalidStorePath(name, reason: "a text object cannot refer to itself")
            }
            return try store.makeTextPath(name: name, contentHash: hash, references: references, rules: rules)
        case .fixed(let method, let hash):
            return try store.makeFixedOutputPath(method: method, hash: hash, name: name, references: references,
                                                 hasSelfReference: hasSelfReference, rules: rules)
        }
    }
}

extension IngestionMethod {
    /// Parses the `[r:]algo` form of a fixed-output derivation's `hashAlgo` field and of the
    /// method strings of `AddToStore` (`r:sha256`, `sha1`, …), formats.md §2.4 and §4.4.
    public static func parse(methodAndAlgorithm text: some StringProtocol) throws(FormatError) -> (method: IngestionMethod, algorithm: HashAlgorithm) {
        if text.hasPrefix("r:") {
            return (.recursive, try HashAlgorithm(parsing: text.dropFirst(2)))
        }
        return (.flat, try HashAlgorithm(parsing: text))
    }

    /// Renders `r:sha256` / `sha256`, the inverse of `parse(methodAndAlgorithm:)`.
    public static func render(_ method: IngestionMethod, _ algorithm: HashAlgorithm) -> String {
        method.prefix + algorithm.rawValue
    }
}
