import CGcrypt

/// Guix's narinfo signatures (formats.md §5.3–§5.4). The `Signature:` field is
/// `1;<host>;<base64 of an s-expression>`:
///
///     (signature
///      (data (flags rfc6979) (hash sha256 #<SHA-256 of the signed bytes>#))
///      (sig-val (ecdsa (r #…#) (s #…#)))
///      (public-key (ecc (curve Ed25519) (q #<32 bytes>#))))
///
/// The signed bytes are everything before the first `Signature:` in the narinfo. A signature
/// is good iff its embedded key is authorised, its hash is the hash of those bytes, and libgcrypt's
/// `gcry_pk_verify` accepts it (ECDSA over the Ed25519 curve for Guix's keys; RSA keys of old
/// installations go through the same call).
public struct GuixSignature: Hashable, Sendable, CustomStringConvertible {
    /// The signing host, informational only.
    public let host: String
    /// The decoded bytes as sent: the field renders back to the same base64.
    public let sexpBytes: [UInt8]
    public let sexp: SExpression
    /// `(data …)`, `(sig-val …)` and the signer's key, as found in `sexp`.
    public let data: SExpression
    public let signatureValue: SExpression
    public let publicKey: GuixPublicKey
    /// The hash the signature claims to cover, from `(data (hash ALGO #…#))`.
    public let signedHash: Hash

    /// Parses the value of a `Signature:` field.
    public init(parsing field: some StringProtocol) throws(FormatError) {
        let text = String(field)
        let parts = text.split(separator: ";", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw .invalidSignature(text, reason: "expected 1;HOST;BASE64") }
        guard parts[0] == "1" else { throw .invalidSignature(text, reason: "signature version '\(parts[0])', only 1 is known") }
        guard let bytes = Base64.decode(parts[2]) else { throw .invalidSignature(text, reason: "not base64 after the host") }
        try self.init(host: String(parts[1]), sexpBytes: bytes)
    }

    public init(host: String, sexpBytes: [UInt8]) throws(FormatError) {
        guard !host.utf8.contains(where: { $0 == UInt8(ascii: ";") || $0 < 0x20 }) else {
            throw .invalidSignature(host, reason: "the host has ';' or a control byte")
        }
        let sexp = try SExpression(parsing: sexpBytes)
        let shown = sexp.description
        guard sexp.isList(named: "signature"), let elements = sexp.elements else {
            throw .invalidSignature(shown, reason: "not a (signature …) expression")
        }
        func part(_ name: String) throws(FormatError) -> SExpression {
            let found = elements.dropFirst().filter { $0.isList(named: name) }
            guard found.count == 1, let only = found.first else {
                throw .invalidSignature(shown, reason: "expected exactly one (\(name) …)")
            }
            return only
        }
        let data = try part("data")
        let signatureValue = try part("sig-val")
        let publicKey = try GuixPublicKey(try part("public-key"))
        guard let hashList = data.find("hash")?.elements, hashList.count == 3,
              let algorithmName = hashList[1].atomBytes, let digest = hashList[2].atomBytes else {
            throw .invalidSignature(shown, reason: "no (hash ALGORITHM #DIGEST#) in (data …)")
        }
        let algorithm = try HashAlgorithm(parsing: String(decoding: algorithmName, as: UTF8.self))
        self.host = host
        self.sexpBytes = sexpBytes
        self.sexp = sexp
        self.data = data
        self.signatureValue = signatureValue
        self.publicKey = publicKey
        self.signedHash = try Hash(algorithm: algorithm, bytes: digest)
    }

    /// The field value `1;host;base64`.
    public var description: String { "1;\(host);\(Base64.encode(sexpBytes))" }

    /// The bytes a Guix narinfo signature covers: all before the first `Signature:`; nil if
    /// there is none.
    public static func signedPart(of narinfo: [UInt8]) -> ArraySlice<UInt8>? {
        let marker = Array("Signature:".utf8)
        guard narinfo.count >= marker.count else { return nil }
        for start in 0...(narinfo.count - marker.count) where narinfo[start] == marker[0] {
            if narinfo[start..<start + marker.count].elementsEqual(marker) { return narinfo[..<start] }
        }
        return nil
    }

    /// Checks that this signature covers `signedBytes` and that its key is one of
    /// `authorizedKeys`; throws `.invalidSignature` saying which check failed.
    public func verify(_ signedBytes: some Collection<UInt8>, authorizedKeys: [GuixPublicKey]) throws(FormatError) {
        guard authorizedKeys.contains(publicKey) else {
            throw .invalidSignature(publicKey.description, reason: "signed by a key that is not authorised")
        }
        let actual = Hasher.hash(signedHash.algorithm, Array(signedBytes))
        guard actual == signedHash else {
            throw .invalidSignature(description, reason: "signs hash \(signedHash.base16), the narinfo's is \(actual.base16)")
        }
        let status = GuixSignature.verify(signatureValue: signatureValue, data: data, key: publicKey.sexp)
        guard status == 0 else {
            throw .invalidSignature(description, reason: String(cString: cg_strerror(status)))
        }
    }

    /// libgcrypt's verdict on three expressions: 0, CG_BAD_SIGNATURE or another error code.
    static func verify(signatureValue: SExpression, data: SExpression, key: SExpression) -> Int32 {
        let s = signatureValue.canonical, d = data.canonical, k = key.canonical
        return s.withUnsafeBytes { sb in
            d.withUnsafeBytes { db in
                k.withUnsafeBytes { kb in
                    cg_sexp_verify(sb.baseAddress, sb.count, db.baseAddress, db.count, kb.baseAddress, kb.count)
                }
            }
        }
    }
}

/// A Guix public key, `(public-key (ecc (curve Ed25519) (q #…#)))` (also `/etc/guix/acl`
/// entries and `signing-key.pub`). Compared by canonical form, as Guix's ACL check does.
public struct GuixPublicKey: Hashable, Sendable, CustomStringConvertible {
    public let sexp: SExpression

    public init(_ sexp: SExpression) throws(FormatError) {
        let shown = sexp.description
        guard sexp.isList(named: "public-key"), let elements = sexp.elements, elements.count == 2,
              let algorithm = elements[1].elements, let name = elements[1].head else {
            throw .invalidKey(shown, reason: "expected (public-key (ALGORITHM …))")
        }
        if name == Array("ecc".utf8) {
            guard let curve = sexp.value("curve"), let q = sexp.value("q") else {
                throw .invalidKey(shown, reason: "an ecc key needs (curve …) and (q …)")
            }
            if curve == Array("Ed25519".utf8) && q.count != 32 {
                throw .invalidKey(shown, reason: "an Ed25519 point has 32 bytes, not \(q.count)")
            }
        } else if name == Array("rsa".utf8) {
            guard sexp.value("n") != nil, sexp.value("e") != nil else {
                throw .invalidKey(shown, reason: "an rsa key needs (n …) and (e …)")
            }
        } else {
            throw .invalidKey(shown, reason: "unknown key algorithm \(elements[1].elements?.first?.description ?? "")")
        }
        guard algorithm.dropFirst().allSatisfy({ $0.elements != nil }) else {
            throw .invalidKey(shown, reason: "key parameters must be lists")
        }
        self.sexp = sexp
    }

    /// Parses a key in any s-expression form (a `signing-key.pub` file, for instance).
    public init(parsing text: some Collection<UInt8>) throws(FormatError) {
        try self.init(try SExpression(parsing: text))
    }

    public init(parsing text: String) throws(FormatError) {
        try self.init(parsing: Array(text.utf8))
    }

    /// The Ed25519 point, for ecc keys.
    public var q: [UInt8]? { sexp.value("q") }

    public var description: String { sexp.description }
}

extension GuixPublicKey {
    /// The keys an `/etc/guix/acl` file authorises for imports and substitutes:
    /// `(acl (entry (public-key …) (tag (guix import))) …)`. Entries with another tag grant
    /// nothing and are skipped; a malformed file or key is an error, never a silent empty list.
    public static func authorizedKeys(acl bytes: some Collection<UInt8>) throws(FormatError) -> [GuixPublicKey] {
        let acl = try SExpression(parsing: bytes)
        guard acl.isList(named: "acl"), let entries = acl.elements?.dropFirst() else {
            throw .invalidKey(acl.description, reason: "expected (acl (entry …) …)")
        }
        let importTag = SExpression.list([.token("tag"), .list([.token("guix"), .token("import")])])
        var keys: [GuixPublicKey] = []
        for entry in entries {
            guard entry.isList(named: "entry"), let parts = entry.elements, parts.count == 3,
                  parts[1].isList(named: "public-key"), parts[2].isList(named: "tag") else {
                throw .invalidKey(entry.description, reason: "expected (entry (public-key …) (tag …))")
            }
            if parts[2] == importTag { keys.append(try GuixPublicKey(parts[1])) }
        }
        return keys
    }
}
