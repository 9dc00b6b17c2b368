/// Adds whose data does not arrive as "a NAR for a known path", still in constant memory:
///
/// - a flat AddToStore (worker protocol >= 1.25) sends the file's bytes with no NAR framing and
///   no length up front: the bytes go into a temporary file in the store while the content hash
///   is taken; the NAR hash is then taken by dumping that file (its size is known by then);
/// - ImportPaths (and an unsigned AddToStoreNar whose content address must be checked) learn
///   the path, or whether it may be added at all, only after the NAR: the NAR is restored into a
///   temporary object (`StagedObject`) while hashed, and installed or discarded afterwards.
///
/// Temporaries live in the store directory under temp roots (see AddToStore.swift), so a
/// crash leaves only garbage the next GC removes. Never a memory buffer of the object.
import StoreFormats
import LinuxSystem

/// A NAR restored into the store under a temporary name, not yet a valid path.
public struct StagedObject: Sendable {
    let temporary: [UInt8]
    public let narHash: Hash
    public let narSize: UInt64
    /// Its files were linked into `.links` while it was restored.
    let deduplicated: Bool
}

extension LocalStore {
    /// Flat AddToStore from the file's raw bytes (read until `source` ends).
    public func addFlatToStore(contents source: some NARByteSource, name: String, hashAlgorithm: HashAlgorithm,
                               references: Set<StorePath> = [], repair: Bool = false) throws(LocalStoreError) -> StorePath {
        try requireWritable()
        var source = source
        let caHasher = Hasher(hashAlgorithm)
        let temporary = try newTemporaryName()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        let nar: (hash: Hash, size: UInt64)
        do {
            let file = try storeFD.open(at: temporary, [.writeOnly, .create, .exclusive, .noFollow], mode: 0o600)
            while true {
                let n = try source.read(into: buffer)
                if n == 0 { break }
                let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
                caHasher.update(chunk)
                try file.writeAll(chunk)
            }
            try file.close()
            nar = try narHash(ofTemporary: temporary)
        } catch {
            discardTemporary(temporary)
            throw Self.addError(error, name: name)
        }
        let path: StorePath
        do {
            path = try storeDirectory.makeFixedOutputPath(method: .flat, hash: caHasher.finish(), name: name,
                                                          references: Array(references), rules: configuration.nameRules)
        } catch {
            discardTemporary(temporary)
            throw .format(error)
        }
        try install(temporary, as: ValidPathInfo(path: path, narHash: nar.hash, references: references, narSize: nar.size), repair: repair)
        return path
    }

    /// Restores the NAR read from `source` under a temporary name, hashing it on the way.
    public func stage(nar source: some NARByteSource) throws(LocalStoreError) -> StagedObject {
        try requireWritable()
        let narHasher = BackgroundHasher(.sha256)
        defer { narHasher.stop() }
        let reader = NARReader(source: BackgroundHashingSource(source, hasher: narHasher))
        let (temporary, deduplicated) = try restoreToTemporary(reader, hashes: narHasher, name: "staged NAR")
        let size = narHasher.count
        return StagedObject(temporary: temporary, narHash: narHasher.finish(), narSize: size, deduplicated: deduplicated)
    }

    /// Hash of the staged object: of its NAR (`contentsOnly` false) or of the contents of its
    /// single regular file (for flat and text content addresses).
    public func hash(of staged: StagedObject, algorithm: HashAlgorithm, contentsOnly: Bool) throws(LocalStoreError) -> Hash {
        if !contentsOnly && algorithm == .sha256 { return staged.narHash }
        do {
            if !contentsOnly {
                var writer = NARWriter(sink: Hasher(algorithm))
                try NARDumper().dump(at: staged.temporary, in: storeFD, displayPath: "staged object", into: &writer)
                return writer.sink.finish()
            }
            let file = try storeFD.open(at: staged.temporary, [.readOnly, .noFollow])
            defer { try? file.close() }
            guard try file.status().type == .regular else {
                throw LocalStoreError.unsupportedFileType("staged object is not a single regular file")
            }
            let hasher = Hasher(algorithm)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
            defer { buffer.deallocate() }
            while true {
                let n = try file.read(into: buffer)
                if n == 0 { break }
                hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            }
            return hasher.finish()
        } catch {
            throw Self.addError(error, name: "staged object")
        }
    }

    /// Makes a staged object the valid path `info.path`; its hash (and size, if given) must
    /// match. The staged object is consumed either way.
    public func install(_ staged: StagedObject, as info: ValidPathInfo, repair: Bool = false) throws(LocalStoreError) {
        guard staged.narHash == info.narHash, info.narSize == 0 || info.narSize == staged.narSize else {
            discardTemporary(staged.temporary)
            throw .hashMismatch(path: absolute(info.path), expected: info.narHash.prefixedNix32, actual: staged.narHash.prefixedNix32)
        }
        var complete = info
        complete.narSize = staged.narSize
        try install(staged.temporary, as: complete, repair: repair, deduplicated: staged.deduplicated)
    }

    /// Drops a staged object that will not be installed.
    public func discard(_ staged: StagedObject) { discardTemporary(staged.temporary) }

    private func narHash(ofTemporary temporary: [UInt8]) throws -> (hash: Hash, size: UInt64) {
        var writer = NARWriter(sink: Hasher(.sha256))
        try NARDumper().dump(at: temporary, in: storeFD, displayPath: "new flat object", into: &writer)
        return (writer.sink.finish(), writer.bytesWritten)
    }
}
