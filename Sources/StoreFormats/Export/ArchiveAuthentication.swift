/// The check guix-daemon makes on each item of a signed export stream before it installs
/// anything (formats.md §3.5, §5.4; guix-daemon.md §7.4). The item's signature is the
/// s-expression `(signature (data … (hash sha256 #H#)) (sig-val …) (public-key …))`; it is
/// accepted iff, in this order (Guix's `guix authenticate verify`, then `importPath`):
///
/// 1. it has a `(data …)` and a `(public-key …)` (else "corrupt signature data"),
/// 2. the public key is one the ACL authorises (else "unauthorized public key"),
/// 3. libgcrypt verifies the signature of the data under that key (else "invalid signature"),
/// 4. H is the SHA-256 of the item's bytes from its NAR through its deriver (else the
///    "Trojan horse" message).
///
/// A signature that is not an s-expression at all counts as corrupt data.
public enum ArchiveAuthentication {
    /// Checks `signature` over an item whose NAR…deriver bytes hash to `digest`.
    public static func verify(_ signature: [UInt8], digest: Hash, authorizedKeys: [GuixPublicKey]) throws(FormatError) {
        guard let sexp = try? SExpression(parsing: signature) else {
            throw .archiveRejected(.corrupt(signature: latin1(signature)))
        }
        guard let data = sexp.find("data"), let subject = sexp.find("public-key") else {
            throw .archiveRejected(.corrupt(signature: sexp.advancedText))
        }
        guard authorizedKeys.contains(where: { $0.sexp == subject }) else {
            throw .archiveRejected(.unauthorized(key: subject.advancedText))
        }
        guard let signatureValue = sexp.find("sig-val"),
              GuixSignature.verify(signatureValue: signatureValue, data: data, key: subject) == 0 else {
            throw .archiveRejected(.invalid(signature: sexp.advancedText))
        }
        // Guix compares only the hash bytes (as lower-case hex), not the algorithm name.
        guard let hash = data.find("hash")?.elements, hash.count >= 3, hash[2].atomBytes == digest.bytes else {
            throw .archiveRejected(.hashMismatch)
        }
    }

    static func latin1(_ bytes: [UInt8]) -> String {
        String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
    }
}

/// Why an item of an export stream was refused; `description` is guix-daemon's message.
public enum ArchiveRejection: Hashable, Sendable, CustomStringConvertible {
    /// The item's signature flag is 0 where a signature is required (the full store path).
    case unsigned(storePath: String)
    /// No `(data …)` or `(public-key …)` in the signature, or not an s-expression.
    case corrupt(signature: String)
    /// The signing key is not in the ACL (the key, in advanced form).
    case unauthorized(key: String)
    /// libgcrypt does not accept the signature (the whole signature, in advanced form).
    case invalid(signature: String)
    /// A good signature over other bytes than the item's.
    case hashMismatch

    public var description: String {
        switch self {
        case .unsigned(let path): "imported archive of `\(path)' lacks a signature"
        case .corrupt(let text): "corrupt signature data: \(text)"
        case .unauthorized(let key): "unauthorized public key: \(key)"
        case .invalid(let text): "invalid signature: \(text)"
        case .hashMismatch:
            "signed hash doesn't match actual contents of imported archive; archive could be corrupt, or someone is trying to import a Trojan horse"
        }
    }
}
