/// Deduplication (guix-daemon.md §4.6, optimise-store.cc): every regular file of at least
/// 8 KiB is hard-linked with `<store>/.links/<nix32 sha256 of the file's NAR>` — the NAR, so
/// an executable and a plain file with the same bytes stay apart. Files with an owner-write bit
/// are skipped (not canonical). ENOSPC while creating a link and EMLINK (too many links) leave the
/// file as it is. Replacing a file goes through a temporary link at the top of the store
/// (`.tmp-link-<pid>-<random>`) and an atomic rename, then the directory gets its canonical mode
/// and mtime back.
import StoreFormats
import LinuxSystem

/// What an optimisation pass did.
public struct OptimiseStatistics: Sendable, Equatable {
    public var filesLinked = 0
    public var bytesFreed: UInt64 = 0
    public init() {}
}

/// Told, just before a file is replaced by a link to an existing `.links` entry, the file's
/// path components from the top of the store and the entry's name (for Nix 2.8's talkative
/// `linking '<file>' to '<store>/.links/<key>'`). Passing none costs the walk nothing.
public typealias LinkObserver = (_ file: [[UInt8]], _ key: [UInt8]) -> Void

extension LocalStore {
    /// Files smaller than this are not worth a link (`deduplicationMinSize`).
    static let deduplicationMinimumSize: Int64 = 8192

    /// Deduplicates the object `name` under `parent` (a new store object or a valid path).
    @discardableResult
    func optimisePath(in parent: FileDescriptor, name: [UInt8], observer: LinkObserver? = nil) throws(LocalStoreError) -> OptimiseStatistics {
        var stats = OptimiseStatistics()
        do {
            // Our temp-roots file tells the GC our `.tmp-link-<pid>-…` names are in flight.
            if tempRoots == nil { tempRoots = try TempRootsFile(layout: layout) }
            let links = try storeFD.openDirectory(at: ".links")
            try optimise(parent, name, links: links, stats: &stats, parentIsStore: parent === storeFD,
                         trail: observer == nil ? [] : [name], observer: observer)
        } catch let error as LocalStoreError { throw error } catch let error as SystemError { throw .system(error) } catch {
            throw .corrupt(String(decoding: name, as: UTF8.self), reason: "\(error)")
        }
        return stats
    }

    /// `trail`: `name`'s path components from the top of the store, kept only for an observer.
    private func optimise(_ parent: FileDescriptor, _ name: [UInt8], links: FileDescriptor, stats: inout OptimiseStatistics,
                          parentIsStore: Bool, trail: [[UInt8]], observer: LinkObserver?) throws {
        let status = try parent.status(at: name)
        switch status.type {
        case .directory:
            let directory = try parent.openDirectory(at: name)
            var changed = false
            for entry in try directory.entryNames() {
                let before = stats.filesLinked
                try optimise(directory, entry, links: links, stats: &stats, parentIsStore: false,
                             trail: observer == nil ? [] : trail + [entry], observer: observer)
                if stats.filesLinked != before { changed = true }
            }
            let mode = try directory.status().permissions
            if changed || mode != 0o555 {
                // Renames inside changed its mode (made writable) and mtime: restore both.
                try directory.changeMode(0o555)
                try directory.setModificationTime(Canonicaliser.storeTime)
            }
        case .regular:
            guard status.size >= Self.deduplicationMinimumSize, status.permissions & 0o200 == 0 else { return }
            try linkFile(parent, name, status, links: links, stats: &stats, parentIsStore: parentIsStore, trail: trail, observer: observer)
        default:
            return
        }
    }

    private func linkFile(_ parent: FileDescriptor, _ name: [UInt8], _ status: FileStatus, links: FileDescriptor,
                          stats: inout OptimiseStatistics, parentIsStore: Bool, trail: [[UInt8]], observer: LinkObserver?) throws {
        var writer = NARWriter(sink: Hasher(.sha256))
        try NARDumper(bufferSize: 1 << 16).dump(at: name, in: parent, displayPath: String(decoding: name, as: UTF8.self), into: &writer)
        let key = Array(writer.sink.finish().nix32.utf8)
        var attempts = 0
        while attempts < 3 {
            attempts += 1
            guard let link = try Self.statusIfPresent(links, key) else {
                switch try Self.tryLink(parent, name, links, key) {
                case .linked, .gaveUp: return
                case .raced: continue  // someone else linked it first: compare with theirs
                }
            }
            if link.inode == status.inode && link.device == status.device { return }
            if link.size != status.size {
                // A corrupt link (wrong contents under this key): drop it and link ours.
                try links.remove(at: key)
                continue
            }
            // The temporary link lives at the top of the store, as in guix-daemon: a crash
            // between link and rename must leave an invalid top-level entry (which GC removes),
            // never an extra entry inside a valid path (which would change its NAR hash).
            observer?(trail, key)
            let temporary = Array(".tmp-link-\(ProcessIdentity.processID)-\(UInt64.random(in: 0...UInt64.max))".utf8)
            if !parentIsStore { try parent.changeMode(0o755) }
            // Read-only again at once, as guix-daemon does per file (MakeReadOnly): a crash or
            // an error must not leave a valid directory writable for the rest of the walk.
            defer {
                if !parentIsStore {
                    try? parent.changeMode(0o555)
                    try? parent.setModificationTime(Canonicaliser.storeTime)
                }
            }
            switch try Self.tryLink(links, key, storeFD, temporary) {
            case .linked: break
            case .raced, .gaveUp: return
            }
            do { try storeFD.rename(at: temporary, to: parent, name) } catch {
                try? storeFD.remove(at: temporary)
                throw error
            }
            stats.filesLinked += 1
            stats.bytesFreed += UInt64(status.size)
            return
        }
    }

    /// Deduplicates a file just written into a new object that is not yet in the store's
    /// namespace (StoreObjectRestorer): `parent` is writable and only ours, the file is
    /// canonical and `key` was hashed from the bytes written. Either the file becomes the
    /// `.links` entry, or an existing entry of the same size replaces it: linked under a
    /// temporary name in `parent`, our file unlinked, the link renamed to the freed name. Not
    /// atomic, and need not be (nobody sees the object yet); renaming onto an existing file
    /// instead would make ext4 (auto_da_alloc) write the `.links` file's dirty pages back at
    /// once, which made imports of recently added trees crawl. Same give-ups as `linkFile`.
    static func linkNewFile(_ parent: FileDescriptor, _ name: [UInt8], size: UInt64, key: [UInt8],
                            links: FileDescriptor) throws(SystemError) {
        for _ in 0..<3 {
            switch try tryLink(parent, name, links, key) {
            case .linked, .gaveUp: return
            case .raced: break
            }
            guard let link = try statusIfPresent(links, key) else { continue }  // removed meanwhile: retry
            if link.size != Int64(size) {
                // A corrupt link (wrong contents under this key): drop it and link ours.
                try links.remove(at: key)
                continue
            }
            let temporary = Array(".tmp-link-\(ProcessIdentity.processID)-\(UInt64.random(in: 0...UInt64.max))".utf8)
            do {
                switch try tryLink(links, key, parent, temporary) {
                case .linked: break
                case .raced, .gaveUp: return
                }
            } catch where error.errno == .noSuchFile { continue }  // a collector took the entry: retry
            do {
                try parent.remove(at: name)
                try parent.rename(at: temporary, to: parent, name)
            } catch {
                try? parent.remove(at: temporary)
                throw error
            }
            return
        }
    }

    private enum LinkOutcome { case linked, raced, gaveUp }

    /// linkat, telling "already there" (EEXIST) and "cannot" (ENOSPC, EMLINK) apart from errors.
    private static func tryLink(_ from: FileDescriptor, _ name: [UInt8], _ to: FileDescriptor, _ newName: [UInt8]) throws(SystemError) -> LinkOutcome {
        do {
            try from.link(at: name, to: to, newName)
            return .linked
        } catch {
            if error.errno == .fileExists { return .raced }
            if error.errno == .noSpace || error.errno == Errno(rawValue: 31 /* EMLINK */) { return .gaveUp }
            throw error
        }
    }

    private static func statusIfPresent(_ directory: FileDescriptor, _ name: [UInt8]) throws(SystemError) -> FileStatus? {
        do { return try directory.status(at: name) } catch {
            if error.errno == .noSuchFile { return nil }
            throw error
        }
    }

    /// Deduplicates every valid path (`guix gc --optimize`).
    public func optimiseStore() throws(LocalStoreError) -> OptimiseStatistics {
        try requireWritable()
        var total = OptimiseStatistics()
        for path in try queryAllValidPaths() {
            guard let s = try optimiseValidPath(path) else { continue }
            total.filesLinked += s.filesLinked
            total.bytesFreed += s.bytesFreed
        }
        return total
    }

    /// Deduplicates one valid path under its lock; nil if it is locked or gone. The lock file
    /// goes with the lock, as after an add: a valid path needs none (else every store path
    /// would keep a `.lock` beside it after an optimise, for the next GC to list).
    public func optimiseValidPath(_ path: StorePath, observer: LinkObserver? = nil) throws(LocalStoreError) -> OptimiseStatistics? {
        guard let locks = try lockPaths([path]) else { return nil }
        locks.deleteOnRelease = true
        defer { locks.release() }
        let base = Array(path.baseName.utf8)
        guard (try? storeFD.status(at: base)) != nil else { return nil }
        return try optimisePath(in: storeFD, name: base, observer: observer)
    }

    /// How many names Nix 2.8's optimise reads from `.links` before it starts (`loaded N hash
    /// inodes`): every entry plus `.` and `..`, which its readdir loop keeps.
    public func linkDirectoryEntryCount() throws(LocalStoreError) -> Int {
        do { return try storeFD.openDirectory(at: Array(".links".utf8)).entryNames().count + 2 } catch { throw .system(error) }
    }
}
