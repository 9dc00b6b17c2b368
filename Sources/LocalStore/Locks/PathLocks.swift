/// Per-path locks (pathlocks.cc): a store path P is locked by write-locking the file `P.lock`.
/// Paths are locked in sorted order so two lockers of overlapping sets cannot deadlock.
///
/// Stale locks: whoever is done with a path for good (it is now valid, or deleted) unlinks
/// `P.lock` and then writes one byte into it while still holding the lock. A process that was
/// waiting on that same file wakes up holding a lock on an unlinked, non-empty file — useless,
/// since a newcomer would create a fresh `P.lock` — so it sees the non-zero size and starts over.
import StoreFormats
import LinuxSystem

public final class PathLocks {
    private var held: [(path: String, fd: FileDescriptor)] = []
    /// Unlink the lock files on release (the path is now valid or gone, nobody needs them).
    public var deleteOnRelease = false

    /// Locks every path in `paths` (absolute, without `.lock`). With `wait` false, returns nil
    /// if any is held elsewhere (locks taken so far are released). A missing lock file in
    /// `spares`' directory is one of its spare files renamed into place (SpareInodes).
    public static func lock(_ paths: some Sequence<String>, wait: Bool = true, spares: SpareInodes? = nil) throws(LocalStoreError) -> PathLocks? {
        let locks = PathLocks()
        for path in Set(paths).sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            let lockPath = path + ".lock"
            do {
                while true {
                    let fd: FileDescriptor
                    if let spare = spareLockFile(lockPath, spares) { fd = spare } else {
                        fd = try FileDescriptor.open(lockPath, [.readWrite, .create], mode: 0o600)
                    }
                    guard try fd.lock(.write, wait: wait) else {
                        locks.release()
                        return nil
                    }
                    if try fd.status().size != 0 { continue }  // stale: deleted by its last holder
                    locks.held.append((path, fd))
                    break
                }
            } catch {
                locks.release()
                throw .system(error)
            }
        }
        return locks
    }

    /// A spare file renamed to `lockPath` if that is in `spares`' directory and does not exist.
    private static func spareLockFile(_ lockPath: String, _ spares: SpareInodes?) -> FileDescriptor? {
        guard let spares, let slash = lockPath.lastIndex(of: "/"), lockPath[..<slash] == spares.directory else { return nil }
        return spares.take(.file, as: Array(lockPath[lockPath.index(after: slash)...].utf8), mode: 0o600).file
    }

    /// Releases every lock (idempotent); with `deleteOnRelease`, marks each stale and unlinks it.
    public func release() {
        for (path, fd) in held {
            if deleteOnRelease {
                _ = try? FileDescriptor.currentDirectory.remove(at: Array((path + ".lock").utf8))
                _ = try? fd.writeAll([UInt8(ascii: "d")])
            }
            _ = try? fd.close()
        }
        held.removeAll()
    }

    deinit { release() }
}

extension LocalStore {
    /// Locks the `.lock` files of store paths (adds, verify, optimise). Plain creations: the
    /// spares a worker makes ahead (SpareInodes) are for its first build's lock files, which
    /// DerivationBuild takes; an add would use them up and pay a directory listing for it.
    public func lockPaths(_ paths: [StorePath], wait: Bool = true) throws(LocalStoreError) -> PathLocks? {
        try PathLocks.lock(paths.map(absolute), wait: wait)
    }
}

/// `<state>/gc.lock`: the collector holds it for writing; adders of temp roots take it for
/// reading while they create their temp-roots file.
public final class GCLock {
    let fd: FileDescriptor

    init(layout: StoreLayout, kind: LockKind, wait: Bool) throws(LocalStoreError) {
        do {
            fd = try FileDescriptor.open(layout.gcLock, [.readWrite, .create], mode: 0o600)
            try fd.lock(kind, wait: wait)
        } catch { throw .system(error) }
    }
}
