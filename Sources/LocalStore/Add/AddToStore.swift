/// Adding objects to the store (worker ops AddToStore, AddTextToStore, ImportPaths /
/// AddToStoreNar). Every add follows the same path, whatever the size, in constant memory:
///
/// 1. stream the object into `<store>/.tmp-add-<pid>-<random>` (protected from GC by a temp
///    root on that name) while hashing it;
/// 2. compute the store path (formats.md §2.3/§2.4) — or check the promised NAR hash;
/// 3. temp-root and lock the path; if it is already valid, drop the copy (a no-op add);
/// 4. canonicalise the copy, deduplicate it, rename it atomically onto the path;
/// 5. register it in one transaction, then mark the lock file stale.
///
/// A crash at any point leaves either nothing valid (the copy or an unregistered path is an
/// invalid entry the next GC removes) or a complete, registered path.
import StoreFormats
import LinuxSystem

extension LocalStore {
    /// AddToStore: the object arrives as a NAR. `method` `.recursive` hashes the NAR with
    /// `hashAlgorithm`; `.flat` requires a single regular file and hashes its contents.
    /// References are only allowed for recursive SHA-256 ("source") objects.
    public func addToStore(nar source: some NARByteSource, name: String, method: IngestionMethod,
                           hashAlgorithm: HashAlgorithm = .sha256, references: Set<StorePath> = [],
                           repair: Bool = false) throws(LocalStoreError) -> StorePath {
        try requireWritable()
        // Recursive SHA-256 (a "source" object): the content hash is the NAR hash, taken once.
        let narHasher = BackgroundHasher(.sha256)
        defer { narHasher.stop() }
        let caHasher: Hasher? = (method == .recursive && hashAlgorithm == .sha256) ? nil : Hasher(hashAlgorithm)
        let temporary = try newTemporaryName()
        let deduplicated: Bool
        do {
            if method == .recursive, let caHasher {
                let reader = NARReader(source: HashingSource(BackgroundHashingSource(source, hasher: narHasher), hasher: caHasher))
                var restorer = try newObjectRestorer(temporary, hashes: narHasher)
                try reader.read(into: &restorer)
                deduplicated = restorer.deduplicated
            } else {
                let reader = NARReader(source: BackgroundHashingSource(source, hasher: narHasher))
                var restorer = try newObjectRestorer(temporary, flatContents: caHasher, hashes: narHasher)
                try reader.read(into: &restorer)
                deduplicated = restorer.deduplicated
            }
        } catch {
            discardTemporary(temporary)
            throw Self.addError(error, name: name)
        }
        let narSize = narHasher.count
        let narHash = narHasher.finish()
        let caHash = caHasher?.finish() ?? narHash
        let path: StorePath
        do {
            path = try storeDirectory.makeFixedOutputPath(method: method, hash: caHash, name: name,
                                                          references: Array(references.subtracting([])), rules: configuration.nameRules)
        } catch {
            discardTemporary(temporary)
            throw .format(error)
        }
        try install(temporary, as: ValidPathInfo(path: path, narHash: narHash, references: references, narSize: narSize), repair: repair,
                    deduplicated: deduplicated)
        return path
    }

    /// AddTextToStore: a text file (a `.drv`, a builder script) whose path depends on its
    /// contents and references.
    public func addTextToStore(name: String, contents: [UInt8], references: Set<StorePath> = [],
                               repair: Bool = false) throws(LocalStoreError) -> StorePath {
        try requireWritable()
        let path: StorePath
        do { path = try storeDirectory.makeTextPath(name: name, contents: contents, references: Array(references), rules: configuration.nameRules) }
        catch { throw .format(error) }
        if !repair, try isValidPath(path) { return path }
        let nar = NAR.regularFile(contents)
        let info = ValidPathInfo(path: path, narHash: Hasher.hash(.sha256, nar), references: references, narSize: UInt64(nar.count))
        let temporary = try newTemporaryName()
        do {
            let file = try storeFD.open(at: temporary, [.writeOnly, .create, .exclusive, .noFollow], mode: 0o600)
            try file.writeAll(contents)
            try file.close()
        } catch {
            discardTemporary(temporary)
            throw Self.addError(error, name: name)
        }
        try install(temporary, as: info, repair: repair)
        return path
    }

    /// ImportPaths / AddToStoreNar: the path and its metadata are known up front; the NAR must
    /// match `info.narHash` (and `info.narSize` if non-zero). A valid path only drains the NAR.
    public func addToStore(info: ValidPathInfo, nar source: some NARByteSource, repair: Bool = false) throws(LocalStoreError) {
        try requireWritable()
        let narHasher = BackgroundHasher(.sha256)
        defer { narHasher.stop() }
        let reader = NARReader(source: BackgroundHashingSource(source, hasher: narHasher))
        if !repair, try isValidPath(info.path) {
            var validator = NARValidator()
            do { try reader.read(into: &validator) } catch { throw Self.addError(error, name: info.path.name) }
            return
        }
        let (temporary, deduplicated) = try restoreToTemporary(reader, hashes: narHasher, name: info.path.name)
        let size = narHasher.count
        let hash = narHasher.finish()
        guard hash == info.narHash, info.narSize == 0 || info.narSize == size else {
            discardTemporary(temporary)
            throw .hashMismatch(path: absolute(info.path), expected: info.narHash.prefixedNix32, actual: hash.prefixedNix32)
        }
        var complete = info
        complete.narSize = size
        try install(temporary, as: complete, repair: repair, deduplicated: deduplicated)
    }

    // MARK: The shared tail

    /// Steps 3–5 above for a finished copy at `temporary` in the store directory;
    /// `deduplicated`: its restorer already linked its files into `.links`.
    func install(_ temporary: [UInt8], as info: ValidPathInfo, repair: Bool, deduplicated: Bool = false) throws(LocalStoreError) {
        let target = Array(info.path.baseName.utf8)
        do {
            try addTempRoot(info.path)
            guard let locks = try lockPaths([info.path]) else { throw LocalStoreError.corrupt(absolute(info.path), reason: "could not lock") }
            defer { locks.release() }
            let wasValid = try isValidPath(info.path)
            if !repair, wasValid {
                discardTemporary(temporary)
                locks.deleteOnRelease = true
                return
            }
            try Canonicaliser.canonicalise(in: storeFD, name: temporary, displayPath: absolute(info.path))
            if configuration.deduplicate && !deduplicated { try optimisePath(in: storeFD, name: temporary) }
            // Whatever is at the target is invalid (or being repaired): an interrupted add, a
            // failed build's output. Swap the new copy in atomically (RENAME_EXCHANGE, so a
            // repaired valid path is never missing, P-5.6), then, once registered, delete the
            // old one under the temporary name, through directory fds.
            let replaced = (try? storeFD.status(at: target)) != nil
            if replaced {
                try storeFD.exchange(at: temporary, with: storeFD, target)
            } else {
                try storeFD.renameNoReplace(at: temporary, to: storeFD, target)
            }
            // `sync-before-registering`: as guix-daemon, sync everything before the rows land.
            if configuration.syncBeforeRegistering { FileSystemSync.synchronizeAll() }
            do { try registerValidPath(info) } catch {
                if replaced && wasValid {
                    // A repair that could not be recorded: swap the valid copy back in (the
                    // new one goes with the temporary name), never leave the path missing.
                    try? storeFD.exchange(at: temporary, with: storeFD, target)
                } else {
                    // Not registered: the object must not stay visible as if it were.
                    try? storeFD.removeTree(at: target)
                }
                throw error
            }
            if replaced { try? storeFD.removeTree(at: temporary) }
            locks.deleteOnRelease = true
        } catch let error as LocalStoreError {
            discardTemporary(temporary)
            throw error
        } catch let error as SystemError {
            discardTemporary(temporary)
            throw Self.addError(error, name: info.path.name)
        } catch {
            discardTemporary(temporary)
            throw .corrupt(absolute(info.path), reason: "\(error)")
        }
    }

    /// The restorer for a new object at `temporary`: canonical metadata as it writes, and
    /// deduplication while restoring when the store deduplicates (`hashes`: the hasher every
    /// byte of the NAR passes through, which also takes the files' `.links` keys).
    func newObjectRestorer(_ temporary: [UInt8], flatContents: Hasher? = nil, hashes: BackgroundHasher) throws(LocalStoreError) -> StoreObjectRestorer {
        var links: FileDescriptor? = nil
        if configuration.deduplicate {
            do { links = try storeFD.openDirectory(at: Array(".links".utf8)) } catch { throw .system(error) }
        }
        return StoreObjectRestorer(root: storeFD, name: temporary, flatContents: flatContents, links: links, hashes: hashes)
    }

    /// A fresh name in the store for a copy being written, registered as a temp root first so
    /// no collector removes it while we write.
    /// Restores the NAR `reader` yields under a new temporary name (hashed by `narHasher` on the
    /// way); on any error the temporary is removed and the error names `name`.
    func restoreToTemporary<Source>(_ reader: NARReader<Source>, hashes narHasher: BackgroundHasher,
                                    name: String) throws(LocalStoreError) -> (temporary: [UInt8], deduplicated: Bool) {
        let temporary = try newTemporaryName()
        do {
            var restorer = try newObjectRestorer(temporary, hashes: narHasher)
            try reader.read(into: &restorer)
            return (temporary, restorer.deduplicated)
        } catch {
            discardTemporary(temporary)
            throw Self.addError(error, name: name)
        }
    }

    func newTemporaryName() throws(LocalStoreError) -> [UInt8] {
        let name = ".tmp-add-\(ProcessIdentity.processID)-\(UInt64.random(in: 0...UInt64.max))"
        do {
            if tempRoots == nil { tempRoots = try TempRootsFile(layout: layout) }
            try tempRoots?.add(layout.storePath + "/" + name)
        } catch { throw .system(error) }
        return Array(name.utf8)
    }

    func discardTemporary(_ name: [UInt8]) {
        try? storeFD.removeTree(at: name)
    }

    static func addError(_ error: any Error, name: String) -> LocalStoreError {
        if let e = error as? LocalStoreError {
            if case .system(let s) = e, s.errno == .noSpace { return .diskFull(name) }
            return e
        }
        if let e = error as? SystemError { return e.errno == .noSpace ? .diskFull(name) : .system(e) }
        if let e = error as? FormatError { return .format(e) }
        return .corrupt(name, reason: "\(error)")
    }
}
