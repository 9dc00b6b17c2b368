import CGcrypt

/// An incremental digest over bytes fed in pieces; constant memory whatever the input size.
/// A class because it owns a libgcrypt handle; not shared between threads.
public final class Hasher {
    public let algorithm: HashAlgorithm
    private let handle: UnsafeMutableRawPointer
    /// Bytes fed so far.
    public private(set) var count: UInt64 = 0

    public init(_ algorithm: HashAlgorithm) {
        self.algorithm = algorithm
        // libgcrypt always provides these four digests; a NULL here means the library
        // itself failed to initialise, which no input can cause.
        guard let handle = cg_md_open(algorithm.gcryptAlgorithm) else {
            preconditionFailure("libgcrypt cannot open \(algorithm.rawValue)")
        }
        self.handle = handle
    }

    deinit { cg_md_close(handle) }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        cg_md_write(handle, base, bytes.count)
        count += UInt64(bytes.count)
    }

    public func update<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        let handled: Void? = bytes.withContiguousStorageIfAvailable { update(UnsafeRawBufferPointer($0)) }
        if handled == nil {
            let array = Array(bytes)
            array.withUnsafeBytes { update($0) }
        }
    }

    public func update(_ text: String) {
        var text = text
        text.withUTF8 { update(UnsafeRawBufferPointer($0)) }
    }

    /// The digest of everything fed so far; the hasher can keep going afterwards.
    public func finish() -> Hash {
        var digest = [UInt8](repeating: 0, count: algorithm.size)
        guard let copy = cg_md_copy(handle) else { preconditionFailure("libgcrypt cannot copy a digest") }
        digest.withUnsafeMutableBufferPointer { cg_md_final(copy, $0.baseAddress, algorithm.size) }
        cg_md_close(copy)
        return Hash(algorithm: algorithm, unchecked: digest)
    }

    /// One-shot digest of a buffer.
    public static func hash<Bytes: Sequence>(_ algorithm: HashAlgorithm, _ bytes: Bytes) -> Hash where Bytes.Element == UInt8 {
        // Contiguous bytes in one libgcrypt call (no handle to open, copy and close).
        let oneShot: [UInt8]? = bytes.withContiguousStorageIfAvailable { input in
            var digest = [UInt8](repeating: 0, count: algorithm.size)
            var empty: UInt8 = 0
            digest.withUnsafeMutableBufferPointer { out in
                if let base = input.baseAddress {
                    cg_md_hash(algorithm.gcryptAlgorithm, base, input.count, out.baseAddress)
                } else {
                    cg_md_hash(algorithm.gcryptAlgorithm, &empty, 0, out.baseAddress)
                }
            }
            return digest
        }
        if let oneShot { return Hash(algorithm: algorithm, unchecked: oneShot) }
        let hasher = Hasher(algorithm)
        hasher.update(bytes)
        return hasher.finish()
    }

    public static func hash(_ algorithm: HashAlgorithm, _ text: String) -> Hash {
        var text = text
        return text.withUTF8 { hash(algorithm, $0) }
    }
}
