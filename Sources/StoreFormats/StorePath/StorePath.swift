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
    public var baseName: String {
        // Copied into one string in place: interpolating or appending costs several times more,
        // and path-info queries build these for every path they touch.
        String(unsafeUninitializedCapacity: Self.hashPartLength + 1 + name.utf8.count) { out in
            out.baseAddress!.copying(hashPart).copying(UInt8(ascii: "-")).copying(name) - out.baseAddress!
        }
    }
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
        // Hot (every path a client sends, every path a database row names): valid base names
        // take a byte scan with no intermediate copies; anything else goes the long way round,
        // which says what is wrong.
        let fast: StorePath? = baseName.utf8.withContiguousStorageIfAvailable { Self.validBaseName($0, rules: rules) } ?? nil
        if let fast {
            self = fast
            return
        }
        let text = String(baseName)
        let bytes = Array(text.utf8)
        // In the order Nix 2.8's parser meets them, so a Nix client reads the same fault.
        guard bytes.count > Self.hashPartLength else { throw .badStorePath(text, .tooShort) }
        if let c = bytes[..<Self.hashPartLength].first(where: { NixBase32.digitValue[Int($0)] == 0xFF }) {
            throw .badStorePath(text, .hashCharacter(c))
        }
        guard bytes[Self.hashPartLength] == UInt8(ascii: "-") else { throw .badStorePath(text, .noDash) }
        // 32 nix32 characters always decode to exactly 20 bytes (validBaseName).
        let hash = String(decoding: bytes[..<Self.hashPartLength], as: UTF8.self)
        let name = String(decoding: bytes[(Self.hashPartLength + 1)...], as: UTF8.self)
        if let fault = StorePathName.fault(of: name, rules: rules) { throw .badStorePath(text, .name(name, fault)) }
        self.hashPart = hash
        self.name = name
    }

    /// Parses an absolute path directly inside `storeDirectory`.
    public init(parsing path: some StringProtocol, in storeDirectory: StoreDirectory, rules: StorePathName.Rules = .nix) throws(FormatError) {
        let fast: StorePath? = path.utf8.withContiguousStorageIfAvailable { Self.validAbsolute(UnsafeRawBufferPointer($0), in: storeDirectory, rules: rules) } ?? nil
        if let fast {
            self = fast
            return
        }
        let text = String(path)
        let prefix = storeDirectory.path + "/"
        // Bytes, not Characters: String comparison is by Unicode canonical equivalence, which
        // would let a byte-different spelling of the store directory through.
        guard text.utf8.starts(with: prefix.utf8) else {
            throw .notInStore(text, storeDirectory: storeDirectory.path)
        }
        let rest = text.utf8.dropFirst(prefix.utf8.count)
        guard !rest.contains(UInt8(ascii: "/")) else {
            throw .notInStore(text, storeDirectory: storeDirectory.path)
        }
        try self.init(baseName: String(decoding: rest, as: UTF8.self), rules: rules)
    }

    /// The store path the bytes of a valid absolute path directly inside `storeDirectory` name,
    /// or nil when anything is off (then `init(parsing:in:rules:)` says what). Wire readers parse
    /// a request's path from their buffer with this, making no String of the whole path; only
    /// ASCII passes, so what passes is UTF-8 text.
    public static func validAbsolute(_ bytes: UnsafeRawBufferPointer, in storeDirectory: StoreDirectory, rules: StorePathName.Rules) -> StorePath? {
        let bytes = bytes.assumingMemoryBound(to: UInt8.self)
        // Byte by byte over both buffers (a generic `starts(with:)` over a UTF8View costs more
        // than the rest of the parse).
        var directory = storeDirectory.path
        let prefixMatches = directory.withUTF8 { prefix -> Bool in
            guard bytes.count > prefix.count + 1, bytes[prefix.count] == UInt8(ascii: "/") else { return false }
            for i in 0..<prefix.count where bytes[i] != prefix[i] { return false }
            return true
        }
        guard prefixMatches else { return nil }
        return validBaseName(UnsafeBufferPointer(rebasing: bytes[(storeDirectory.path.utf8.count + 1)...]), rules: rules)
    }

    private init(validHashPart: String, name: String) {
        hashPart = validHashPart
        self.name = name
    }

    /// The path a valid base name names, or nil when anything is off (the caller then takes
    /// the checking route for the error): nix32 hash part (32 characters always decode to
    /// exactly 20 bytes, so no bits can overflow), '-', a name of allowed bytes within the
    /// length limit, no leading dot for Guix. No '/' can pass the name check.
    private static func validBaseName(_ bytes: UnsafeBufferPointer<UInt8>, rules: StorePathName.Rules) -> StorePath? {
        let nameLength = bytes.count - hashPartLength - 1
        guard nameLength >= 1, nameLength <= StorePathName.maxLength(rules), bytes[hashPartLength] == UInt8(ascii: "-") else { return nil }
        let table = NixBase32.digitValue
        for i in 0..<hashPartLength where table[Int(bytes[i])] == 0xFF { return nil }
        let nameStart = hashPartLength + 1
        if rules == .guix && bytes[nameStart] == UInt8(ascii: ".") { return nil }
        for i in nameStart..<bytes.count where !StorePathName.isValidCharacter(bytes[i]) { return nil }
        return StorePath(validHashPart: String(decoding: UnsafeBufferPointer(rebasing: bytes[..<hashPartLength]), as: UTF8.self),
                         name: String(decoding: UnsafeBufferPointer(rebasing: bytes[nameStart...]), as: UTF8.self))
    }

    /// The absolute path in `storeDirectory`.
    public func absolute(in storeDirectory: StoreDirectory) -> String {
        // Copied into one string in place: appending five pieces costs several times more, and
        // every database query on a path builds this.
        let total = storeDirectory.path.utf8.count + Self.hashPartLength + 2 + name.utf8.count
        return String(unsafeUninitializedCapacity: total) { out in
            let end = out.baseAddress!.copying(storeDirectory.path).copying(UInt8(ascii: "/")).copying(hashPart)
                .copying(UInt8(ascii: "-")).copying(name)
            return end - out.baseAddress!
        }
    }

    public var isDerivation: Bool { name.hasSuffix(".drv") }

    /// Base-name byte order. Hash parts all have the same length, so that is the hash parts'
    /// order, then the names' (no base name is built).
    public static func < (lhs: StorePath, rhs: StorePath) -> Bool {
        if lhs.hashPart != rhs.hashPart { return lhs.hashPart.utf8.lexicographicallyPrecedes(rhs.hashPart.utf8) }
        return lhs.name.utf8.lexicographicallyPrecedes(rhs.name.utf8)
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
        guard contains(path) else { throw .notInStore(path, storeDirectory: self.path) }
        let rest = path.utf8.dropFirst(self.path.utf8.count + 1)
        let base = rest.prefix { $0 != UInt8(ascii: "/") }
        return try StorePath(baseName: String(decoding: base, as: UTF8.self), rules: rules)
    }
}
