import CGcrypt

/// Guix's archive signing keys (formats.md §5.4), as `guix archive --generate-key` writes them
/// under `/etc/guix`: `signing-key.pub` holds `(public-key (ecc (curve Ed25519) (q #…#)))`,
/// `signing-key.sec` the `(private-key (ecc (curve Ed25519) (q #…#) (d #…#)))` of the same
/// pair, each in libgcrypt's advanced (readable) form. The default parameters make an ECDSA key
/// on the Ed25519 curve (not EdDSA), so signatures are `(sig-val (ecdsa (r …) (s …)))`.
public struct GuixKeyPair: Sendable {
    public let publicKey: GuixPublicKey
    public let secretKey: GuixSecretKey

    /// What `guix archive --generate-key` uses when given no parameters (libgcrypt ≥ 1.6).
    public static let defaultParameters = "(genkey (ecdsa (curve Ed25519) (flags rfc6979)))"

    public init(publicKey: GuixPublicKey, secretKey: GuixSecretKey) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// A fresh pair from libgcrypt's `gcry_pk_genkey` (its strong random pool).
    public static func generate(parameters: String = defaultParameters) throws(FormatError) -> GuixKeyPair {
        let request = try SExpression(parsing: parameters)
        guard request.isList(named: "genkey") else {
            throw .invalidKey(request.description, reason: "key generation parameters must be a (genkey …) expression")
        }
        let pair = try LibgcryptCall.run(reason: "key generation failed") { out, length in
            request.canonical.withUnsafeBytes { cg_sexp_genkey($0.baseAddress, $0.count, out, length) }
        }
        let keys = try SExpression(parsing: pair)
        guard let publicKey = keys.find("public-key"), let secretKey = keys.find("private-key") else {
            throw .invalidKey(keys.description, reason: "libgcrypt returned no key pair")
        }
        return GuixKeyPair(publicKey: try GuixPublicKey(publicKey), secretKey: try GuixSecretKey(secretKey))
    }

    /// Signs `digest` as `guix authenticate` does for a signed export: the data
    /// `(data (flags rfc6979) (hash sha256 #…#))` (`pkcs1` for RSA keys), `gcry_pk_sign`, and the
    /// envelope `(signature DATA SIG-VAL PUBLIC-KEY)` in advanced form — the bytes written after an
    /// item's signature flag.
    public func sign(_ digest: Hash) throws(FormatError) -> [UInt8] {
        let data = GuixKeyPair.hashData(digest, keyAlgorithm: publicKey.algorithm)
        let signatureValue = try LibgcryptCall.run(reason: "signing failed") { out, length in
            data.canonical.withUnsafeBytes { d in
                secretKey.sexp.canonical.withUnsafeBytes { k in
                    cg_sexp_sign(d.baseAddress, d.count, k.baseAddress, k.count, out, length)
                }
            }
        }
        let envelope = SExpression.list([.token("signature"), data, try SExpression(parsing: signatureValue), publicKey.sexp])
        return try envelope.advancedForm()
    }

    /// `(data (flags F) (hash ALGO #digest#))`, Guix's `bytevector->hash-data`.
    static func hashData(_ digest: Hash, keyAlgorithm: [UInt8]) -> SExpression {
        let flags = keyAlgorithm == Array("rsa".utf8) ? "pkcs1" : "rfc6979"
        return .list([
            .token("data"),
            .list([.token("flags"), .token(flags)]),
            .list([.token("hash"), .token(digest.algorithm.rawValue), .atom(digest.bytes)]),
        ])
    }
}

/// A Guix secret key, `(private-key (ecc (curve …) (q …) (d …)))` or an RSA one.
public struct GuixSecretKey: Sendable {
    public let sexp: SExpression

    public init(_ sexp: SExpression) throws(FormatError) {
        // Never show the secret in an error: name the shape only.
        guard sexp.isList(named: "private-key"), let elements = sexp.elements, elements.count == 2,
              let name = elements[1].head else {
            throw .invalidKey("(private-key …)", reason: "expected (private-key (ALGORITHM …))")
        }
        guard name == Array("ecc".utf8) || name == Array("rsa".utf8) else {
            throw .invalidKey("(private-key …)", reason: "unknown key algorithm \(String(decoding: name, as: UTF8.self))")
        }
        guard sexp.value("d") != nil else {
            throw .invalidKey("(private-key …)", reason: "no secret (d …) parameter")
        }
        self.sexp = sexp
    }

    public init(parsing bytes: some Collection<UInt8>) throws(FormatError) {
        try self.init(try SExpression(parsing: bytes))
    }
}

extension GuixPublicKey {
    /// `ecc` or `rsa`: the name of the list inside `(public-key …)`.
    public var algorithm: [UInt8] { sexp.elements?.dropFirst().first?.head ?? [] }
}

extension SExpression {
    /// libgcrypt's advanced form of this expression, byte for byte what `gcry_sexp_sprint`
    /// prints and Guix writes (keys, the ACL, signatures, and the texts in its error messages).
    public func advancedForm() throws(FormatError) -> [UInt8] {
        let bytes = canonical
        return try LibgcryptCall.run(reason: "cannot render the s-expression") { out, length in
            bytes.withUnsafeBytes { cg_sexp_render_advanced($0.baseAddress, $0.count, out, length) }
        }
    }

    /// `advancedForm()` as text (ISO-8859-1, as Guix's ports read it), or the one-line
    /// description if libgcrypt cannot print it.
    public var advancedText: String {
        guard let bytes = try? advancedForm() else { return description }
        return String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
    }
}

/// The C functions that hand back a malloc'd buffer: copy it out, free it, turn a status into
/// a FormatError.
enum LibgcryptCall {
    static func run(reason: String,
                    _ body: (UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>, UnsafeMutablePointer<Int>) -> Int32) throws(FormatError) -> [UInt8] {
        var buffer: UnsafeMutablePointer<UInt8>?
        var length = 0
        let status = body(&buffer, &length)
        defer { if let buffer { cg_free(buffer) } }
        guard status == 0, let buffer else {
            throw .invalidKey("libgcrypt", reason: "\(reason): \(String(cString: cg_strerror(status)))")
        }
        return Array(UnsafeBufferPointer(start: buffer, count: length))
    }
}
