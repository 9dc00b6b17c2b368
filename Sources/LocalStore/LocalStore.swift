/// The store on this machine: `/gnu/store` and `/var/guix`, the schema-7 database, registration,
/// canonicalisation, locks, roots, garbage collection, deduplication and verification — on-disk
/// state exactly as guix-daemon keeps it, so either daemon can run on the other's store.
///
/// Public API (stable; the daemon and builder call these, named as the field names them):
///
/// - Opening: `LocalStore(configuration:)`; `StoreConfiguration(environment:)` reads
///   `NIX_STORE_DIR`, `GUIX_STATE_DIRECTORY`, `GUIX_DATABASE_DIRECTORY`, … from a dictionary;
///   `StoreLayout` names every path (db, schema, big-lock, gcroots, temproots, .links, trash…).
/// - Queries: `isValidPath`, `queryValidPaths`, `queryAllValidPaths`, `queryPathInfo`
///   (`ValidPathInfo`), `queryReferences`, `queryReferrers`, `queryRequisites` (closure, with
///   outputs/derivers), `queryDeriver`, `queryValidDerivers`, `queryDerivationOutputs`,
///   `queryPathFromHashPart`.
/// - Registration: `registerValidPaths` / `registerValidPath` (one transaction; `.drv` outputs
///   recorded and checked), `invalidatePath`; failed paths: `addFailedPath`, `hasFailedPath`,
///   `queryFailedPaths`, `clearFailedPaths`; Nix signatures: `signatures(of:)`,
///   `addSignatures(_:to:)` (files beside the database, removed with their path).
/// - Adding: `addToStore(nar:name:method:hashAlgorithm:references:repair:)` (NAR stream,
///   recursive or flat, any hash), `addTextToStore`, `addToStore(info:nar:repair:)` (import /
///   AddToStoreNar with a known hash). Each computes or checks the path, writes under a
///   temporary name, canonicalises, deduplicates, renames atomically and registers; a path
///   that is already valid is a no-op.
/// - Build outputs (already at their store path): `canonicaliseNewObject`,
///   `canonicalisePathMetaData`, `scanForReferences`, `computeNARHash`, `deduplicate`,
///   `deleteInvalidPath`.
/// - Locks: `lockPaths` (`PathLocks`: per-path `.lock` files, sorted, stale-aware), the
///   `big-lock` held while open, `gc.lock` taken by the collector.
/// - Roots and GC: `addTempRoot`, `addIndirectRoot`, `findRoots`, `findRuntimeRoots`,
///   `collectGarbage(GCOptions)` → `GCResults`, `availableSpace`.
/// - Maintenance: `optimiseStore` (→ `OptimiseStatistics`), `verifyStore(checkContents:repair:)`
///   (→ `VerifyResult`).
/// - Errors: `LocalStoreError`, whose `description` is the one-line text for clients.
///
/// One `LocalStore` is one SQLite connection: use it from one thread at a time (the daemon runs
/// one worker process per client, as guix-daemon forks one). Several instances, in threads or
/// processes, coordinate through SQLite's locking and OFD file locks.
import StoreFormats
import LinuxSystem

public final class LocalStore {
    public let configuration: StoreConfiguration
    public var layout: StoreLayout { configuration.layout }
    public var storeDirectory: StoreDirectory { configuration.layout.storeDirectory }
    let database: StoreDatabase
    /// Read-locked for as long as this store is open (guix-daemon: every LocalStore); nil in
    /// read-only mode.
    let bigLock: FileDescriptor?
    /// True when this user may not write the database directory (guix-daemon: `big-lock` gives
    /// EACCES): the store is opened for queries only, nothing is created, and writes fail.
    public let isReadOnly: Bool
    /// The store directory, held open: every write into the store is relative to it.
    let storeFD: FileDescriptor
    /// Reads the outputs of a `.drv` being registered, to fill `DerivationOutputs`. nil (the
    /// default): StoreFormats' Derivation parser, plus guix-daemon's checkDerivationOutputs
    /// (every output path recomputed from the derivation) unless the configuration turns it off.
    public var derivationOutputs: ((_ path: StorePath, _ contents: [UInt8]) throws(LocalStoreError) -> [(id: String, path: StorePath)])?
    /// The temp-roots file of this process, created on the first `addTempRoot`.
    var tempRoots: TempRootsFile?
    /// `<state>/signatures`, once opened, and its names as last read (SignatureFiles).
    var signaturesDirectoryFD: FileDescriptor?
    let signatureListing = SignatureListing()

    /// Opens the store, creating the directories, database and `schema` file on first use. A user
    /// who may not write the database directory gets the store read-only, as guix-daemon does
    /// when `big-lock` cannot be opened (EACCES): queries work, writes fail.
    public init(configuration: StoreConfiguration) throws(LocalStoreError) {
        self.configuration = configuration
        let layout = configuration.layout
        var readOnly = false
        do {
            // Existing directories are fine for a reader too (mkdir finds them before asking for
            // write permission); only a missing one needs a writer.
            for dir in [layout.storePath, layout.linksDirectory, layout.stateDirectory, layout.databaseDirectory,
                        layout.gcRootsDirectory, layout.profilesDirectory, layout.tempRootsDirectory] {
                try HostPath.makeDirectories(dir)
            }
            storeFD = try FileDescriptor.currentDirectory.openDirectory(at: layout.storePath)
            do {
                let lock = try FileDescriptor.open(layout.bigLock, [.readWrite, .create], mode: 0o600)
                try lock.lock(.read, wait: true)
                bigLock = lock
            } catch where error.errno == .permissionDenied {
                bigLock = nil
                readOnly = true
            }
            if !readOnly {
                // gcroots/profiles → the profiles directory, so profiles are roots.
                let profilesLink = layout.gcRootsDirectory + "/profiles"
                if (try? FileDescriptor.currentDirectory.status(at: Array(profilesLink.utf8))) == nil {
                    do { try FileDescriptor.currentDirectory.makeSymlink(at: Array(profilesLink.utf8), target: Array(layout.profilesDirectory.utf8)) }
                    catch where error.errno == .fileExists {}
                }
                if configuration.reservedSpace > 0 { try Self.reserveSpace(layout.reservedFile, size: configuration.reservedSpace) }
            }
        } catch { throw .system(error) }
        isReadOnly = readOnly

        let current = try Self.readSchemaVersion(layout.schemaFile)
        if current > StoreSchema.version { throw .schemaTooNew(found: current, supported: StoreSchema.version) }
        if current != 0 && current < StoreSchema.version { throw .implausiblyOldSchema(found: current) }
        if readOnly && current == 0 { throw .readOnlyStore(layout.databaseDirectory) }
        database = try StoreDatabase(file: layout.databaseFile, store: layout.storeDirectory, create: current == 0,
                                     readOnly: readOnly, configuration: configuration)
        if current == 0 {
            do { try FileSystem.writeFileAtomically(layout.schemaFile, Array("\(StoreSchema.version)".utf8)) }
            catch { throw .system(error) }
        }
    }

    /// Every change to the store starts here: a read-only store refuses it before touching
    /// anything.
    func requireWritable() throws(LocalStoreError) {
        if isReadOnly { throw .readOnlyStore(layout.databaseDirectory) }
    }

    /// The output paths of the `.drv` at `path`, by output name; with `check`, each must be the
    /// one its contents imply (input derivations are read from the store to hash them).
    func readDerivationOutputs(_ path: StorePath, _ contents: [UInt8], check: Bool) throws(LocalStoreError) -> [(id: String, path: StorePath)] {
        let store = storeDirectory
        let derivation: Derivation
        do throws(FormatError) { derivation = try Derivation(aterm: contents, store: store, rules: .nix) } catch { throw .format(error) }
        if check {
            var hasher = DerivationHasher(store: store) { (input: StorePath) throws(FormatError) -> Derivation in
                let bytes: [UInt8]
                do { bytes = try self.readDerivationFile(input) } catch {
                    throw .invalidStorePath(input.baseName, reason: "cannot read input derivation: \(error)")
                }
                return try Derivation(aterm: bytes, store: store, rules: .nix)
            }
            do throws(FormatError) {
                try derivation.checkOutputs(name: try Derivation.name(of: path), hasher: &hasher, rules: .nix)
            } catch { throw .invalidDerivationOutputs(absolute(path), reason: error.description) }
        }
        return derivation.sortedOutputNames.compactMap { name in derivation.outputs[name]?.path.map { (name, $0) } }
    }

    /// The bytes of the `.drv` at `path` in the store, refused (unread) above
    /// `configuration.derivationSizeLimit`.
    public func readDerivationFile(_ path: StorePath) throws(LocalStoreError) -> [UInt8] {
        let limit = configuration.derivationSizeLimit
        do {
            let file = try storeFD.open(at: Array(path.baseName.utf8), [.readOnly, .noFollow])
            let size = UInt64(max(try file.status().size, 0))
            guard size <= limit else { throw LocalStoreError.derivationTooLarge(absolute(path), size: size, limit: limit) }
            let bytes = try file.readAll(upTo: Int(limit) + 1)
            guard UInt64(bytes.count) <= limit else {
                throw LocalStoreError.derivationTooLarge(absolute(path), size: UInt64(bytes.count), limit: limit)
            }
            return bytes
        } catch let error as LocalStoreError { throw error } catch let error as SystemError { throw .system(error) } catch {
            throw .corrupt(absolute(path), reason: "\(error)")
        }
    }

    static func readSchemaVersion(_ file: String) throws(LocalStoreError) -> Int {
        let bytes: [UInt8]
        do { bytes = try FileDescriptor.open(file, .readOnly).readAll() } catch {
            if error.errno == .noSuchFile { return 0 }
            throw .system(error)
        }
        let text = String(decoding: bytes, as: UTF8.self).filter { !$0.isWhitespace }
        guard let n = Int(text) else { throw .corrupt(file, reason: "`\(text)' is corrupt") }
        return n
    }

    /// `db/reserved`: space the GC can free when the disk is full so it can still run.
    static func reserveSpace(_ file: String, size: UInt64) throws(SystemError) {
        let fd = try FileDescriptor.open(file, [.readWrite, .create], mode: 0o600)
        if try fd.status().size >= Int64(size) { return }
        let chunk = [UInt8](repeating: 0, count: 1 << 16)
        var written: UInt64 = 0
        do {
            while written < size { try fd.writeAll(chunk); written += UInt64(chunk.count) }
        } catch where error.errno == .noSpace {}
    }

    func absolute(_ path: StorePath) -> String { path.absolute(in: storeDirectory) }

    /// Parses an absolute store path under this store's name rules.
    public func parseStorePath(_ text: String) throws(LocalStoreError) -> StorePath {
        do { return try StorePath(parsing: text, in: storeDirectory, rules: .nix) } catch { throw .format(error) }
    }
}

/// Directory and file helpers over LinuxSystem for paths the store owns (not user input).
enum FileSystem {
    /// Writes `bytes` to a temporary name beside `path` and renames it over `path`.
    static func writeFileAtomically(_ path: String, _ bytes: [UInt8]) throws(SystemError) {
        let temporary = path + ".tmp-\(ProcessIdentity.processID)"
        let fd = try FileDescriptor.open(temporary, [.writeOnly, .create, .truncate], mode: 0o644)
        try fd.writeAll(bytes)
        try fd.synchronize()
        try fd.close()
        try FileDescriptor.currentDirectory.rename(at: Array(temporary.utf8), to: .currentDirectory, Array(path.utf8))
    }

    static func exists(_ path: String) -> Bool {
        (try? FileDescriptor.currentDirectory.status(at: Array(path.utf8))) != nil
    }
}
