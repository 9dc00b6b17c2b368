/// Garbage collection (gc.cc collectGarbage), guix-daemon.md §8.2. Under the `gc.lock` write
/// lock: read temp roots (blocking their owners from adding more), find permanent roots, mark
/// everything reachable — references, plus derivers of live outputs with gc-keep-derivations
/// and outputs of live derivations with gc-keep-outputs — then delete the rest:
///
/// 1. invalid store entries first (interrupted adds, failed builds), sparing temp roots and
///    `.lock`/`.chroot` files still in use;
/// 2. dead valid paths, referrers before references: invalidate in the database (committed),
///    move into `<store>/trash` (the name vanishes atomically), delete through directory fds;
///    their Nix signature files go too;
/// 3. stop once `maxFreed` bytes are freed; then (collecting or `--delete`) drop `.links`
///    entries nobody else links.
import StoreFormats
import LinuxSystem

public struct GCOptions: Sendable {
    public enum Action: Sendable, Equatable {
        /// `--list-live`.
        case returnLive
        /// `--list-dead`.
        case returnDead
        /// Collect garbage.
        case deleteDead
        /// `--delete PATHS`: refused for live paths.
        case deleteSpecific([StorePath])
    }
    public var action: Action
    /// Delete specific paths even if reachable (root only; `--ignore-liveness`).
    public var ignoreLiveness = false
    /// Stop after freeing this many bytes.
    public var maxFreed: UInt64 = .max

    public init(action: Action, ignoreLiveness: Bool = false, maxFreed: UInt64 = .max) {
        self.action = action
        self.ignoreLiveness = ignoreLiveness
        self.maxFreed = maxFreed
    }
}

public struct GCResults: Sendable {
    /// Absolute paths listed or deleted.
    public var paths: [String] = []
    public var bytesFreed: UInt64 = 0
    /// For each deleted entry of `paths`, in order, the bytes counted as freed before it, as
    /// guix-daemon's progress line `[N MiB] deleting '…'` counts them: the NAR sizes of the
    /// valid paths deleted so far (its estimate for a directory moved to the trash) and the
    /// sizes of lock files removed. Empty for the listing actions.
    public var freedBefore: [UInt64] = []
    /// `maxFreed` stopped the deletion with dead paths left.
    public var stoppedAtLimit = false
    /// `--delete` paths that were neither valid nor on disk (nothing to do; Nix 2.8 still
    /// reports them deleted, guix-daemon does not).
    public var absent: [String] = []
    /// `.links` entries found unused (one link) and removed, in the directory's order: Nix
    /// 2.8 names each at talkative (`deleting unused link …`).
    public var unusedLinks: [[UInt8]] = []
    private var estimate: UInt64 = 0
    public init() {}

    /// `path` is being deleted; `size` is what it adds to the estimate.
    mutating func deleting(_ path: String, size: UInt64) {
        paths.append(path)
        freedBefore.append(estimate)
        estimate += size
    }
}

extension LocalStore {
    public func collectGarbage(_ options: GCOptions) throws(LocalStoreError) -> GCResults {
        try requireWritable()
        let gcLock = try GCLock(layout: layout, kind: .write, wait: true)
        defer { _ = gcLock }
        if options.action != .returnLive && options.action != .returnDead {
            // On a full disk, the reserved file is what lets the collector run (SQLite needs room
            // for its journal); it is re-created once space has been freed.
            _ = try? FileDescriptor.currentDirectory.remove(at: Array(layout.reservedFile.utf8))
        }
        defer {
            if configuration.reservedSpace > 0 && options.action != .returnLive && options.action != .returnDead {
                _ = try? Self.reserveSpace(layout.reservedFile, size: configuration.reservedSpace)
            }
        }
        let timer = PhaseTimer(enabled: PhaseTimer.gcTimings)
        let (tempRoots, tempRootLocks) = try readTempRoots()
        defer { _ = tempRootLocks }
        timer.mark("temproots")
        var roots = Set(try findRoots().values)
        for text in tempRoots { if let p = try? parseStorePath(text) { roots.insert(p) } }
        timer.mark("roots")
        if configuration.scanRuntimeRoots { roots.formUnion(findRuntimeRoots()) }
        timer.mark("runtime-roots")
        let live = try liveSet(from: roots)
        timer.mark("live")
        var results = GCResults()

        switch options.action {
        case .returnLive:
            results.paths = live.map(absolute).sorted()
            return results
        case .returnDead:
            // Invalid entries (leftovers of failed builds and adds) are garbage too.
            let invalid = try invalidEntries(tempRoots: tempRoots).map { layout.storePath + "/" + String(decoding: $0, as: UTF8.self) }
            results.paths = (try queryAllValidPaths().filter { !live.contains($0) }.map(absolute) + invalid).sorted()
            return results
        case .deleteSpecific(let paths):
            var doomed = Set<StorePath>()
            var invalid: [StorePath] = []
            for path in paths {
                guard try isValidPath(path) else {
                    invalid.append(path)
                    continue
                }
                if live.contains(path) && !options.ignoreLiveness { throw .pathStillAlive(absolute(path)) }
                // Its referrers go first; all are dead, or the path would be alive.
                doomed.formUnion(try referrerClosure(path))
            }
            if options.ignoreLiveness {
                // Only the named paths; refuse if something else still refers to them.
                for path in doomed where !paths.contains(path) { doomed.remove(path) }
            }
            let leftovers = try invalidRequestedPaths(invalid, tempRoots: tempRoots, results: &results)
            try deletePaths(doomed, options: options, results: &results)
            try deleteLeftovers(leftovers, results: &results)
            // As guix-daemon: `--delete` also drops the `.links` entries nothing uses any more
            // (else a deleted path's deduplicated files stayed on disk until the next collection).
            try removeUnusedLinks(results: &results)
        case .deleteDead:
            try deleteInvalidEntries(tempRoots: tempRoots, results: &results)
            timer.mark("invalid")
            let dead = Set(try queryAllValidPaths()).subtracting(live)
            timer.mark("dead")
            try deletePaths(dead, options: options, results: &results)
            timer.mark("delete")
            try removeUnusedLinks(results: &results)
            timer.mark("links")
            timer.report("gc of \(results.paths.count) entries")
        }
        return results
    }

    /// Everything reachable from `roots` under the liveness rules.
    func liveSet(from roots: Set<StorePath>) throws(LocalStoreError) -> Set<StorePath> {
        try database.db.reading { () throws(LocalStoreError) in try liveSetUnlocked(from: roots) }
    }

    private func liveSetUnlocked(from roots: Set<StorePath>) throws(LocalStoreError) -> Set<StorePath> {
        var live = Set<StorePath>()
        var pending = Array(roots)
        while let path = pending.popLast() {
            guard !live.contains(path), try database.isValid(path) else { continue }
            live.insert(path)
            pending += try database.references(path)
            if configuration.gcKeepDerivations, let deriver = try database.queryPathInfo(path)?.deriver,
               !live.contains(deriver), try database.derivationOutputs(deriver).contains(where: { $0.path == path }) {
                pending.append(deriver)
            }
            if configuration.gcKeepOutputs && path.isDerivation {
                for (_, output) in try database.derivationOutputs(path) { pending.append(output) }
            }
        }
        return live
    }

    /// `path` and every valid path that refers to it, transitively.
    func referrerClosure(_ path: StorePath) throws(LocalStoreError) -> Set<StorePath> {
        var closure = Set<StorePath>()
        var pending = [path]
        while let p = pending.popLast() {
            guard closure.insert(p).inserted else { continue }
            pending += try database.referrers(p)
        }
        return closure
    }

    /// Deletes `paths` (all dead), referrers first, in batches of one transaction each. Each
    /// batch is invalidated (committed) before any of its entries is touched; without `maxFreed`
    /// the removals run on a DeletionPool while the next batches are invalidated, and all have
    /// finished before this returns. With `maxFreed`, one path at a time, counted before the next.
    func deletePaths(_ paths: Set<StorePath>, options: GCOptions, results: inout GCResults) throws(LocalStoreError) {
        let timer = PhaseTimer(enabled: PhaseTimer.gcTimings)
        let ordered = try referrersFirst(paths)
        timer.mark("order")
        let limited = options.maxFreed != .max
        let batchSize = limited ? 1 : 256
        let trash = try openTrash()
        let pool = DeletionPool(threads: limited ? 0 : 16)
        var index = 0
        // Invalidated paths lose their signatures, whatever happens next (as Nix's row does).
        defer { removeSignatureFiles(of: ordered[..<index]) }
        do throws(LocalStoreError) {
            while index < ordered.count && results.bytesFreed < options.maxFreed {
                let batch = Array(ordered[index..<min(index + batchSize, ordered.count)])
                var sizes: [UInt64] = []
                sizes.reserveCapacity(batch.count)
                try database.db.transaction { () throws(LocalStoreError) in
                    for path in batch { sizes.append(try database.deleteValidPath(path)) }
                }
                index += batch.count
                for (path, size) in zip(batch, sizes) {
                    results.deleting(absolute(path), size: size)
                    if limited {
                        results.bytesFreed += try deleteStoreEntry(Array(path.baseName.utf8), trash: trash)
                    } else if let job = try removalJob(Array(path.baseName.utf8), trash: trash, pool: pool) {
                        pool.submit(job)
                    }
                }
            }
            results.stoppedAtLimit = index < ordered.count
        } catch {
            _ = pool.finish()
            throw error
        }
        timer.mark("invalidate+rename")
        results.bytesFreed += pool.finish()
        timer.mark("wait")
        timer.report("deletion of \(ordered.count) paths")
        try? storeFD.removeTree(at: Array("trash".utf8))
    }

    /// A topological order of `paths` in which every path comes after all its referrers.
    func referrersFirst(_ paths: Set<StorePath>) throws(LocalStoreError) -> [StorePath] {
        // Hundreds of queries: one read snapshot (one WAL read lock) for all of them.
        try database.db.reading { () throws(LocalStoreError) in try referrersFirstUnlocked(paths) }
    }

    private func referrersFirstUnlocked(_ paths: Set<StorePath>) throws(LocalStoreError) -> [StorePath] {
        // Many paths (a full collection): read the whole reference graph in one query rather
        // than one query per path (~15 µs each); few paths: query just those.
        var graph: [StorePath: [StorePath]]?
        if paths.count >= 256 {
            var byText: [String: StorePath] = [:]
            for path in paths { byText[path.absolute(in: storeDirectory)] = path }
            var referrers: [StorePath: [StorePath]] = [:]
            try database.referencePairs { referrer, reference in
                if let to = byText[reference], let from = byText[referrer] { referrers[to, default: []].append(from) }
            }
            graph = referrers
        }
        let referrersOf = { (path: StorePath) throws(LocalStoreError) -> [StorePath] in
            if let graph { return graph[path] ?? [] }
            return try self.database.referrers(path)
        }
        var order: [StorePath] = []
        var done = Set<StorePath>()
        for start in paths.sorted() where !done.contains(start) {
            // Iterative post-order over referrers: a path is emitted once its referrers are.
            var stack: [(StorePath, [StorePath])] = [(start, try referrersOf(start))]
            done.insert(start)
            while !stack.isEmpty {
                let top = stack.count - 1
                if let next = stack[top].1.popLast() {
                    if paths.contains(next) && !done.contains(next) {
                        done.insert(next)
                        stack.append((next, try referrersOf(next)))
                    }
                } else {
                    order.append(stack[top].0)
                    stack.removeLast()
                }
            }
        }
        return order
    }

    /// Invalid top-level entries of the store: leftovers of interrupted adds and failed builds,
    /// sparing temp roots, `.lock`/`.chroot` files of paths being built and locks still held.
    func invalidEntries(tempRoots: Set<String>) throws(LocalStoreError) -> [[UInt8]] {
        let names: [[UInt8]]
        do { names = try storeFD.entryNames() } catch { throw .system(error) }
        // One read of every valid path instead of a query per entry (a store holds thousands).
        let valid = Set(try database.db.texts("select path from ValidPaths"))
        // Pids with a temp-roots file (`<pid>` or `<pid>-<n>`); readTempRoots removed the dead.
        let liveTempRootOwners = Set(listTempRootFiles().map { String($0.prefix { $0 != "-" }) })
        var found: [[UInt8]] = []
        for name in names {
            let text = String(decoding: name, as: UTF8.self)
            // `.cloister-spares`: emptied chroot skeletons a daemon worker handed on to the next.
            if text == ".links" || text == "trash" || text == ".cloister-spares" { continue }
            let full = layout.storePath + "/" + text
            if tempRoots.contains(full) { continue }
            if text.hasSuffix(".lock") || text.hasSuffix(".chroot") {
                let owner = String(text[..<(text.lastIndex(of: ".") ?? text.endIndex)])
                if tempRoots.contains(layout.storePath + "/" + owner) { continue }
                if text.hasSuffix(".lock") {
                    // In use by a live locker? (A lock we can take is stale.)
                    guard let fd = try? storeFD.open(at: name, [.readWrite, .noFollow]),
                          (try? fd.lock(.write, wait: false)) == true else { continue }
                    found.append(name)
                    continue
                }
            }
            if valid.contains(full) { continue }
            if text.hasPrefix(".tmp-link-") {
                // A deduplication rename in flight, while its process lives: it holds a
                // temp-roots file (readTempRoots removed those of dead processes). A dead
                // process's leftover goes, as guix-daemon's GC deletes it.
                let pid = String(text.dropFirst(".tmp-link-".count).prefix { $0 != "-" })
                if !pid.isEmpty && liveTempRootOwners.contains(pid) { continue }
            }
            found.append(name)
        }
        return found
    }

    /// Deletes the invalid entries (`invalidEntries`), listing each in `results`.
    func deleteInvalidEntries(tempRoots: Set<String>, results: inout GCResults) throws(LocalStoreError) {
        let trash = try openTrash()
        let pool = DeletionPool()
        defer { results.bytesFreed += pool.finish() }
        for name in try invalidEntries(tempRoots: tempRoots) {
            try deleteInvalidEntry(name, trash: trash, pool: pool, results: &results)
        }
    }

    /// Deletes one of `invalidEntries`, listing it in `results`: a lock file is taken and marked
    /// stale first (for anyone who opened it meanwhile); anything else is removed by `pool`, or
    /// at once without one.
    func deleteInvalidEntry(_ name: [UInt8], trash: FileDescriptor, pool: DeletionPool?, results: inout GCResults) throws(LocalStoreError) {
        let full = layout.storePath + "/" + String(decoding: name, as: UTF8.self)
        if name.count > 5 && name.suffix(5).elementsEqual(".lock".utf8) {
            guard let fd = try? storeFD.open(at: name, [.readWrite, .noFollow]),
                  (try? fd.lock(.write, wait: false)) == true else { return }
            let size = UInt64(max((try? fd.status().size) ?? 0, 0))
            _ = try? storeFD.remove(at: name)
            _ = try? fd.writeAll([UInt8(ascii: "d")])
            results.bytesFreed += size
            results.deleting(full, size: size)
            return
        }
        results.deleting(full, size: 0)
        guard let job = try removalJob(name, trash: trash, pool: pool) else { return }
        if let pool { pool.submit(job) } else { results.bytesFreed += job() }
    }

    private func listTempRootFiles() -> [String] {
        guard let dir = try? FileDescriptor.currentDirectory.openDirectory(at: layout.tempRootsDirectory),
              let names = try? dir.entryNames() else { return [] }
        return names.map { String(decoding: $0, as: UTF8.self) }
    }

    /// `--delete` of paths that are not valid. An invalid entry the collector would delete
    /// anyway (a leftover of an interrupted add or a failed build) is returned for deletion, as
    /// both daemons delete it; one that is protected — a temp root (an add in flight), the
    /// `.lock` or `.chroot` of one, a lock still held — is still alive; a name with nothing
    /// behind it goes to `results.absent`.
    func invalidRequestedPaths(_ paths: [StorePath], tempRoots: Set<String>, results: inout GCResults) throws(LocalStoreError) -> [[UInt8]] {
        guard !paths.isEmpty else { return [] }
        let deletable = Set(try invalidEntries(tempRoots: tempRoots))
        var leftovers: [[UInt8]] = []
        for path in paths {
            let name = Array(path.baseName.utf8)
            if deletable.contains(name) {
                leftovers.append(name)
            } else if (try? storeFD.status(at: name)) != nil {
                throw .pathStillAlive(absolute(path))
            } else {
                results.absent.append(absolute(path))
            }
        }
        return leftovers
    }

    /// Deletes the entries `invalidRequestedPaths` found, listing each in `results`.
    func deleteLeftovers(_ names: [[UInt8]], results: inout GCResults) throws(LocalStoreError) {
        guard !names.isEmpty else { return }
        let trash = try openTrash()
        for name in names { try deleteInvalidEntry(name, trash: trash, pool: nil, results: &results) }
        try? storeFD.removeTree(at: Array("trash".utf8))
    }

    private func openTrash() throws(LocalStoreError) -> FileDescriptor {
        do {
            do { try storeFD.makeDirectory(at: Array("trash".utf8), mode: 0o700) } catch where error.errno == .fileExists {}
            return try storeFD.openDirectory(at: Array("trash".utf8))
        } catch { throw .system(error) }
    }
}

extension LocalStore {
    /// Free bytes on the store's file system (for `gc -F`).
    public func availableSpace() throws(LocalStoreError) -> UInt64 {
        do { return try storeFD.availableBytes() } catch { throw .system(error) }
    }
}
