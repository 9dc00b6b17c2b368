/// A store path `<storeDir>/<hash>-<name>` (formats.md §2.1), held as its base name: 32 nix32
/// characters of a 20-byte digest, a dash, and a name valid under `StorePathName.Rules`.
/// A value exists only if valid; the store directory is supplied when rendering.
public struct StorePath: Hashable, Comparable, Sendable, CustomStringConvertible {
    public static let hashPartLength = 32
    public static let digestSize = 20

    /// The 32-character nix32 hash part.
    public let hashPart: String
    public let name: String

    /// `hash-name`, the path's last component.
    public var baseName: String { "\(hashPart)-\(name)" }
    public var description: String { baseName }

    /// The 20-byte digest the hash part encodes.
    public var digest: [UInt8] {
        // The hash part was validated at construction, so this decode cannot fail.
        (try? NixBase32.decode(hashPart, byteCount: Self.digestSize)) ?? []
    }

    public init(digest: [UInt8], name: String, rules: StorePathName.Rules = .nix) throws(FormatError) {
        guard digest.count == Self.digestSize else {
            throw .invalidStorePath(name, reason: "digest of \(digest.count) bytes, expected \(Self.digestSize)")
        }
        try StorePathName.validate(name, rules: rules)
        self.hashPart = NixBase32.encode(digest)
        self.name = name
    }

    /// Parses a base name `hash-name`.
    public init(baseName: some StringProtocol, rules: StorePathName.Rules = .nix) throws(FormatError) {
        let text = String(baseName)
        let bytes = Array(text.utf8)
        guard bytes.count >= Self.hashPartLength + 2 else {
            throw .invalidStorePath(text, reason: "base name shorter than \(Self.hashPartLength + 2) bytes")
        }
        guard bytes[Self.hashPartLength] == UInt8(ascii: "-") else {
            throw .invalidStorePath(text, reason: "no '-' after the \(Self.hashPartLength)-character hash part")
        }
        let hash = String(decoding: bytes[..<Self.hashPartLength], as: UTF8.self)
        for c in hash.utf8 where NixBase32.digitValue[Int(c)] == 0xFF {
            throw .invalidStorePath(text, reason: "hash part has '\(Character(Unicode.Scalar(c)))', not a nix32 character")
        }
        // A hash part whose top bits overflow 160 bits is not the encoding of any digest.
        do { _ = try NixBase32.decode(hash, byteCount: Self.digestSize) } catch {
            throw .invalidStorePath(text, reason: "hash part is not a 20-byte digest")
        }
        let name = String(decoding: bytes[(Self.hashPartLength + 1)...], as: UTF8.self)
        do { try StorePathName.validate(name, rules: rules) } catch {
            throw .invalidStorePath(text, reason: error.description)
        }
        self.hashPart = hash
        self.name = name
    }

    /// Parses an absolute path directly inside `storeDirectory`.
    public init(parsing path: some StringProtocol, in storeDirectory: StoreDirectory, rules: StorePathName.Rules = .nix) throws(FormatError) {
        let text = String(path)
        let prefix = storeDirectory.path + "/"
        // Bytes, not Characters: String comparison is by Unicode canonical equivalence, which
        // would let a byte-different spelling of the store directory through.
        guard text.utf8.starts(with: prefix.utf8) else {
            throw .invalidStorePath(text, reason: "not in the store \(storeDirectory.path)")
        }
        let rest = text.utf8.dropFirst(prefix.utf8.count)
        guard !rest.contains(UInt8(ascii: "/")) else {
            throw .invalidStorePath(text, reason: "not a top-level store path")
        }
        try self.init(baseName: String(decoding: rest, as: UTF8.self), rules: rules)
    }

    /// The absolute path in `storeDirectory`.
    public func absolute(in storeDirectory: StoreDirectory) -> String {
        "\(storeDirectory.path)/\(baseName)"
    }

    public var isDerivation: Bool { name.hasSuffix(".drv") }

    public static func < (lhs: StorePath, rhs: StorePath) -> Bool {
        lhs.baseName.utf8.lexicographicallyPrecedes(rhs.baseName.utf8)
    }
}

/// The store directory (`/gnu/store` for Guix, `/nix/store` for Nix): absolute, no trailing
/// slash. It enters every store-path hash.
public struct StoreDirectory: Hashable, Sendable, CustomStringConvertible {
    public let path: String
    public var description: String { path }

    public static let guix = StoreDirectory(unchecked: "/gnu/store")
    public static let nix = StoreDirectory(unchecked: "/nix/store")

    init(unchecked path: String) { self.path = path }

    public init(_ path: String) throws(FormatError) {
        var trimmed = path
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard trimmed.hasPrefix("/"), trimmed != "/" else {
            throw .invalidStorePath(path, reason: "the store directory must be an absolute path other than /")
        }
        self.path = trimmed
    }

    /// Whether `path` names something inside this store (the store path itself or below it).
    public func contains(_ path: String) -> Bool { path.utf8.starts(with: (self.path + "/").utf8) }

    /// The top-level store path of an absolute path inside the store (`/gnu/store/h-x/bin/sh`
    /// gives `h-x`).
    public func storePath(containing path: String, rules: StorePathName.Rules = .nix) throws(FormatError) -> StorePath {
        guard contains(path) else { throw .invalidStorePath(path, reason: "not in the store \(self.path)") }
        let rest = path.utf8.dropFirst(self.path.utf8.count + 1)
        let base = rest.prefix { $0 != UInt8(ascii: "/") }
        return try StorePath(baseName: String(decoding: base, as: UTF8.self), rules: rules)
    }
}
