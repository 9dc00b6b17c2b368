import CGcrypt

/// Nix's binary-cache signatures (formats.md §5.2): Ed25519 (RFC 8032) over a narinfo
/// fingerprint, written `keyname:base64(64-byte signature)`. Keys are `keyname:base64(32-byte
/// public key)` and `keyname:base64(32-byte seed || 32-byte public key)`, the files of
/// `nix-store --generate-binary-cache-key`. A signature is checked against the trusted key with
/// the same name. The arithmetic is libgcrypt's (Sources/CGcrypt/signature.c).
public struct NixSignature: Hashable, Sendable, CustomStringConvertible {
    public let keyName: String
    /// R || S, 64 bytes.
    public let bytes: [UInt8]

    public init(keyName: String, bytes: [UInt8]) throws(FormatError) {
        let text = "\(keyName):\(Base64.encode(bytes))"
        try NixKeyName.validate(keyName, in: text, as: FormatError.invalidSignature)
        guard bytes.count == 64 else {
            throw .invalidSignature(text, reason: "\(bytes.count) bytes, an Ed25519 signature has 64")
        }
        self.keyName = keyName
        self.bytes = bytes
    }

    /// Parses `keyname:base64`.
    public init(parsing text: some StringProtocol) throws(FormatError) {
        let (name, bytes) = try NixKeyName.split(String(text), as: FormatError.invalidSignature)
        try self.init(keyName: name, bytes: bytes)
    }

    public var description: String { "\(keyName):\(Base64.encode(bytes))" }
}

/// A public key trusted to sign narinfos (`trusted-public-keys`).
public struct NixPublicKey: Hashable, Sendable, CustomStringConvertible {
    public let name: String
    public let bytes: [UInt8]

    public init(name: String, bytes: [UInt8]) throws(FormatError) {
        let text = "\(name):\(Base64.encode(bytes))"
        try NixKeyName.validate(name, in: text, as: FormatError.invalidKey)
        guard bytes.count == 32 else {
            throw .invalidKey(text, reason: "\(bytes.count) bytes, an Ed25519 public key has 32")
        }
        self.name = name
        self.bytes = bytes
    }

    public init(parsing text: some StringProtocol) throws(FormatError) {
        let (name, bytes) = try NixKeyName.split(String(text), as: FormatError.invalidKey)
        try self.init(name: name, bytes: bytes)
    }

    public var description: String { "\(name):\(Base64.encode(bytes))" }

    /// Whether `signature` is this key's (same name) signature of `message`.
    public func verifies(_ signature: NixSignature, of message: some Collection<UInt8>) -> Bool {
        guard signature.keyName == name else { return false }
        let message = Array(message)
        let status = bytes.withUnsafeBufferPointer { key in
            signature.bytes.withUnsafeBufferPointer { sig in
                message.withUnsafeBytes { cg_ed25519_verify(key.baseAddress, $0.baseAddress, $0.count, sig.baseAddress) }
            }
        }
        return status == 0
    }

    public func verifies(_ signature: NixSignature, of message: String) -> Bool {
        verifies(signature, of: Array(message.utf8))
    }
}

/// A signing key. Its text form carries the public key after the seed; parsing checks that the
/// two agree, so a corrupt key file cannot sign under someone else's public key.
public struct NixSecretKey: Hashable, Sendable, CustomStringConvertible {
    public let name: String
    public let seed: [UInt8]
    public let publicKey: NixPublicKey

    public init(name: String, seed: [UInt8]) throws(FormatError) {
        guard seed.count == 32 else { throw .invalidKey(name + ":…", reason: "a seed has 32 bytes, not \(seed.count)") }
        var derived = [UInt8](repeating: 0, count: 32)
        let status = seed.withUnsafeBufferPointer { s in
            derived.withUnsafeMutableBufferPointer { cg_ed25519_public_from_seed(s.baseAddress, $0.baseAddress) }
        }
        guard status == 0 else { throw .invalidKey(name + ":…", reason: String(cString: cg_strerror(status))) }
        self.name = name
        self.seed = seed
        self.publicKey = try NixPublicKey(name: name, bytes: derived)
    }

    public init(parsing text: some StringProtocol) throws(FormatError) {
        let string = String(text)
        let (name, bytes) = try NixKeyName.split(string, as: FormatError.invalidKey)
        // The secret is never echoed back in an error.
        let shown = name + ":…"
        guard bytes.count == 64 else { throw .invalidKey(shown, reason: "\(bytes.count) bytes, a secret key has 64") }
        try self.init(name: name, seed: Array(bytes[..<32]))
        guard publicKey.bytes == Array(bytes[32...]) else {
            throw .invalidKey(shown, reason: "the embedded public key is not the seed's")
        }
    }

    /// The key file form `name:base64(seed || public)`.
    public var description: String { "\(name):\(Base64.encode(seed + publicKey.bytes))" }

    /// The deterministic Ed25519 signature of `message`.
    public func sign(_ message: some Collection<UInt8>) throws(FormatError) -> NixSignature {
        let message = Array(message)
        var signature = [UInt8](repeating: 0, count: 64)
        let status = seed.withUnsafeBufferPointer { s in
            signature.withUnsafeMutableBufferPointer { out in
                message.withUnsafeBytes { cg_ed25519_sign(s.baseAddress, $0.baseAddress, $0.count, out.baseAddress) }
            }
        }
        guard status == 0 else { throw .invalidKey(name + ":…", reason: String(cString: cg_strerror(status))) }
        return try NixSignature(keyName: name, bytes: signature)
    }

    public func sign(_ message: String) throws(FormatError) -> NixSignature {
        try sign(Array(message.utf8))
    }
}

/// The `name:` part shared by keys and signatures: non-empty, no ':' (the text is split at the
/// first one), no whitespace or control bytes (it sits in a narinfo line).
enum NixKeyName {
    static func validate(_ name: String, in text: String, as error: (String, String) -> FormatError) throws(FormatError) {
        guard !name.isEmpty else { throw error(text, "empty key name") }
        guard name.utf8.allSatisfy({ $0 > 0x20 && $0 != 0x7F && $0 != UInt8(ascii: ":") }) else {
            throw error(text, "the key name has a space, control byte or ':'")
        }
    }

    static func split(_ text: String, as error: (String, String) -> FormatError) throws(FormatError) -> (String, [UInt8]) {
        guard let colon = text.firstIndex(of: ":") else { throw error(text, "no ':' after the key name") }
        guard let bytes = Base64.decode(text[text.index(after: colon)...]) else {
            throw error(text, "not base64 after the key name")
        }
        return (String(text[..<colon]), bytes)
    }
}
