/// Deleting store entries safely (security.md SEC-10): an entry leaves the store namespace by
/// one rename into `<store>/trash`, then is removed by a walk that holds a directory fd at every
/// level, opens subdirectories with openat(O_NOFOLLOW|O_DIRECTORY) and removes single names with
/// unlinkat(dirfd, name). A racer that swaps a subdirectory for a symlink makes the open fail;
/// the symlink itself is unlinked, its target never touched.
import StoreFormats
import LinuxSystem

extension LocalStore {
    /// Moves `name` (a top-level store entry) into `trash` and deletes it; returns the bytes
    /// freed (sizes of files and symlinks whose last link went, as deletePath counts them).
    func deleteStoreEntry(_ name: [UInt8], trash: FileDescriptor) throws(LocalStoreError) -> UInt64 {
        try removalJob(name, trash: trash, pool: nil)?() ?? 0
    }

    /// `deleteStoreEntry` in two steps, for the DeletionPool: a directory leaves the store
    /// namespace now (one rename into `trash`); the returned job removes what is left and counts
    /// the bytes freed (nil: nothing there). A non-directory is unlinked by the job itself, which
    /// is atomic on its own. The collector runs jobs while it holds `gc.lock` and the temp-root
    /// locks (no add can re-create the name meanwhile) and waits for all of them before replying.
    /// With `pool`, a directory's own subdirectories are removed as jobs of their own.
    func removalJob(_ name: [UInt8], trash: FileDescriptor, pool: DeletionPool?) throws(LocalStoreError) -> DeletionPool.Job? {
        do {
            let status: FileStatus
            do { status = try storeFD.status(at: name) } catch where error.errno == .noSuchFile { return nil }
            guard status.type == .directory else {
                let store = storeFD
                return { Self.removeCounting(store, name) }
            }
            // Moving a directory to another parent rewrites its `..`: it must be writable.
            let directory = try storeFD.openDirectory(at: name)
            if status.permissions & 0o700 != 0o700 { try directory.changeMode(0o700) }
            try directory.close()
            let trashName = name + Array("-\(UInt64.random(in: 0...UInt64.max))".utf8)
            try storeFD.rename(at: name, to: trash, trashName)
            if let pool { return Self.treeRemovalJob(trash, trashName, depth: 0, up: nil, pool: pool) }
            return { Self.removeCounting(trash, trashName) }
        } catch { throw .system(error) }
    }

    /// A directory whose entries are being removed by several jobs: whichever finishes last
    /// removes the directory itself, then tells the directory above.
    final class DirectoryRemoval: @unchecked Sendable {
        let parent: FileDescriptor
        let name: [UInt8]
        let directory: FileDescriptor
        let up: DirectoryRemoval?
        private let lock = ConditionLock()
        /// Jobs still working below, plus one for the job listing the directory.
        private var pending = 1

        init(parent: FileDescriptor, name: [UInt8], directory: FileDescriptor, up: DirectoryRemoval?) {
            self.parent = parent
            self.name = name
            self.directory = directory
            self.up = up
        }

        func add() { lock.withLock { pending += 1 } }

        func done() {
            guard lock.withLock({ pending -= 1; return pending == 0 }) else { return }
            _ = try? directory.close()
            // Fails (ENOTEMPTY) if a branch below could not go: it stays for the next collection.
            _ = try? parent.remove(at: name, directory: true)
            up?.done()
        }
    }

    /// Directories this deep or deeper are removed by one job (`removeCounting`), so the
    /// descriptors held open by unfinished directories stay few.
    static let parallelRemovalDepth = 2

    /// The job removing `name` under `parent` (in a tree being removed, `up` its directory):
    /// files directly, each subdirectory as a job run before anything else queued; the same
    /// fd-relative walk as `removeCounting`.
    static func treeRemovalJob(_ parent: FileDescriptor, _ name: [UInt8], depth: Int, up: DirectoryRemoval?,
                               pool: DeletionPool) -> DeletionPool.Job {
        return {
            guard depth < parallelRemovalDepth, let status = try? parent.status(at: name), status.type == .directory,
                  let directory = try? parent.openDirectory(at: name) else {
                let freed = removeCounting(parent, name)
                up?.done()
                return freed
            }
            if status.permissions & 0o700 != 0o700 { _ = try? directory.changeMode(0o700) }
            let node = DirectoryRemoval(parent: parent, name: name, directory: directory, up: up)
            var freed: UInt64 = 0
            for entry in (try? directory.entryNames()) ?? [] where PathComponent.isValid(entry) {
                guard let entryStatus = try? directory.status(at: entry) else { continue }
                if entryStatus.type == .directory {
                    node.add()
                    pool.submit(first: true, treeRemovalJob(directory, entry, depth: depth + 1, up: node, pool: pool))
                } else if (try? directory.remove(at: entry)) != nil, entryStatus.linkCount == 1 {
                    freed += UInt64(max(entryStatus.size, 0))
                }
            }
            // The directory goes (and `up` hears of it) when the last job below it is done.
            node.done()
            return freed
        }
    }

    /// Removes `name` under `parent` and everything below, fd-relative; counts freed bytes.
    /// Errors deep in the tree (a racer, permissions) stop that branch only: what is left stays
    /// in the trash for the next collection.
    static func removeCounting(_ parent: FileDescriptor, _ name: [UInt8]) -> UInt64 {
        guard let status = try? parent.status(at: name) else { return 0 }
        guard status.type == .directory else {
            guard (try? parent.remove(at: name)) != nil else { return 0 }
            return status.linkCount == 1 ? UInt64(status.size) : 0
        }
        guard let directory = try? parent.openDirectory(at: name) else { return 0 }
        if status.permissions & 0o700 != 0o700 { _ = try? directory.changeMode(0o700) }
        var freed: UInt64 = 0
        for entry in (try? directory.entryNames()) ?? [] where PathComponent.isValid(entry) {
            freed += removeCounting(directory, entry)
        }
        _ = try? directory.close()
        _ = try? parent.remove(at: name, directory: true)
        return freed
    }

    /// `.links` entries whose only link is the one in `.links` (no store file uses them), removed
    /// on the pool's threads (each removal may wait for a discard, as store entries do). Each is
    /// judged unused here, in order, so `results.unusedLinks` lists them as Nix reports them.
    func removeUnusedLinks(results: inout GCResults) throws(LocalStoreError) {
        let links: FileDescriptor
        let names: [[UInt8]]
        do {
            links = try storeFD.openDirectory(at: Array(".links".utf8))
            names = try links.entryNames()
        } catch { throw .system(error) }
        let pool = DeletionPool()
        for name in names {
            guard let status = try? links.status(at: name), status.linkCount == 1 else { continue }
            results.unusedLinks.append(name)
            pool.submit {
                guard (try? links.remove(at: name)) != nil else { return 0 }
                return UInt64(max(status.size, 0))
            }
        }
        results.bytesFreed += pool.finish()
    }
}
