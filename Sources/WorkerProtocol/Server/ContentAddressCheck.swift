import StoreFormats

/// Checks a client's content-address claim against the NAR it sent (formats.md §2.3, §2.4):
/// the claimed hash must be the hash of the contents, and the path must be the one that hash
/// gives. Only then may an unsigned AddToStoreNar from an untrusted client be accepted.
public enum ContentAddressCheck {
    public static func verify(_ ca: String, nar: [UInt8], info: PathInfoRecord, in store: StoreDirectory) throws {
        try verify(ca, info: info, in: store) { algorithm, contentsOnly in
            contentsOnly ? Hasher.hash(algorithm, try MemoryStream(input: nar).readAllNarContents()) : Hasher.hash(algorithm, nar)
        }
    }

    /// The same check with the hashing left to the caller, whose NAR may be on disk:
    /// `digest(algorithm, contentsOnly)` hashes the NAR, or (contentsOnly) its single file's contents.
    public static func verify(_ ca: String, info: PathInfoRecord, in store: StoreDirectory,
                              digest: (HashAlgorithm, Bool) throws -> Hash) throws {
        let fail = { (reason: String) in StoreServiceError("content address '\(ca)' of '\(info.path.baseName)' is wrong: \(reason)") }
        let expected: StorePath
        if ca.hasPrefix("text:") {
            let hash = try Hash(parsing: ca.dropFirst(5))
            guard try digest(hash.algorithm, true) == hash else { throw fail("contents hash differently") }
            expected = try store.makeTextPath(name: info.path.name, contentHash: hash, references: info.references)
        } else if ca.hasPrefix("fixed:") {
            var rest = ca.dropFirst(6)
            let recursive = rest.hasPrefix("r:")
            if recursive { rest = rest.dropFirst(2) }
            let hash = try Hash(parsing: rest)
            let actual = try digest(hash.algorithm, !recursive)
            guard actual == hash else { throw fail("contents hash differently") }
            let refs = info.references.filter { $0 != info.path }
            expected = try store.makeFixedOutputPath(method: recursive ? .recursive : .flat, hash: hash, name: info.path.name,
                                                     references: refs, hasSelfReference: refs.count != info.references.count)
        } else {
            throw fail("unknown kind")
        }
        guard expected == info.path else { throw fail("it gives \(expected.baseName)") }
    }
}

extension MemoryStream {
    /// The contents of a NAR that is a single regular file.
    public func readAllNarContents() throws -> [UInt8] {
        try NarDelimiter(WireReader(self), contentsOnly: true).readAll(limit: Int.max)
    }
}
