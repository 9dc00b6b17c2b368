import CGcrypt

/// The hash algorithms of the store (formats.md §1.1), numbered as libgcrypt numbers them,
/// which is what guix-daemon's `HashType` is.
public enum HashAlgorithm: String, CaseIterable, Sendable, Hashable {
    case md5, sha1, sha256, sha512

    /// Digest size in bytes.
    public var size: Int {
        switch self {
        case .md5: 16
        case .sha1: 20
        case .sha256: 32
        case .sha512: 64
        }
    }

    var gcryptAlgorithm: Int32 {
        switch self {
        case .md5: Int32(CG_MD5)
        case .sha1: Int32(CG_SHA1)
        case .sha256: Int32(CG_SHA256)
        case .sha512: Int32(CG_SHA512)
        }
    }

    public init(parsing name: some StringProtocol) throws(FormatError) {
        guard let algorithm = HashAlgorithm(rawValue: String(name)) else {
            throw .unknownHashAlgorithm(String(name))
        }
        self = algorithm
    }
}
