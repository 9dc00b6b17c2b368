/// Checking and making narinfo signatures: Nix `Sig:` lines over the fingerprint (§5.2) and
/// Guix's `Signature:` over the bytes before it (§5.3). A narinfo is trusted only through these.
extension NarInfo {
    /// The `Sig:` lines made by one of `trustedKeys` (matched by name) that verify.
    public func validSignatures(trustedKeys: [NixPublicKey]) -> [NixSignature] {
        let message = Array(fingerprint.utf8)
        return signatures.filter { signature in
            trustedKeys.contains { $0.verifies(signature, of: message) }
        }
    }

    /// Adds (or replaces) the signature of `key` over the fingerprint.
    public mutating func sign(with key: NixSecretKey) throws(FormatError) {
        let signature = try key.sign(Array(fingerprint.utf8))
        if let index = signatures.firstIndex(where: { $0.keyName == key.name }) {
            signatures[index] = signature
        } else {
            signatures.append(signature)
        }
    }

    /// The fields Guix requires inside the signed part, plus `NarSize`, which the NAR is
    /// checked against (security.md P-9.1: the signature binds path, hash, size and references).
    static let guixSignedFields: [Field] = [.storePath, .narHash, .narSize, .references]

    /// Parses a Guix narinfo and returns it only if its `Signature:` is valid, by one of
    /// `authorizedKeys`, and covers StorePath, NarHash, NarSize and References. Fields after the
    /// signature (Guix puts the URL group there) are unsigned, so a client must check the NAR it
    /// downloads against `narHash`.
    public init(verifyingGuixSignatureOf bytes: [UInt8], in storeDirectory: StoreDirectory,
                rules: StorePathName.Rules = .guix, authorizedKeys: [GuixPublicKey]) throws(FormatError) {
        let parsed = try NarInfoParser(storeDirectory: storeDirectory, rules: rules).parse(bytes)
        guard let signature = parsed.info.guixSignature, let offset = parsed.signatureOffset else {
            throw .invalidSignature("", reason: "the narinfo has no Signature line")
        }
        // Guix signs up to the first "Signature:" anywhere; insist that is the Signature line,
        // so no earlier value can cut the signed part short.
        guard let signed = GuixSignature.signedPart(of: bytes), signed.count == offset else {
            throw .invalidSignature(signature.description, reason: "'Signature:' occurs before the Signature line")
        }
        let signedFields = Set(parsed.info.layout.prefix { $0 != .signature })
        for field in Self.guixSignedFields where !signedFields.contains(field) {
            throw .invalidSignature(signature.description, reason: "\(field.key) is not covered by the signature")
        }
        try signature.verify(signed, authorizedKeys: authorizedKeys)
        self = parsed.info
    }
}
