/// Temporary GC roots (gc.cc addTempRoot / readTempRoots): each process that is about to use a
/// store path writes it, NUL-terminated, to `<state>/temproots/<pid>` and holds a read lock on
/// that file for as long as it lives (a second LocalStore of the same process, e.g. another
/// daemon connection thread, uses `<pid>-<n>`). A collector that can write-lock such a file
/// knows its owner is gone and deletes it; otherwise it reads the paths and keeps them.
///
/// Creation protocol (so the GC never misses a root): take `gc.lock` for reading while creating
/// the file (the GC holds it for writing while it reads all temp roots), re-check the file was
/// not deleted by a GC in between, read-lock it; to append, upgrade to a write lock, write, and
/// downgrade back to read.
import StoreFormats
import LinuxSystem

final class TempRootsFile {
    let fd: FileDescriptor
    let path: String

    /// One creation at a time in this process: between another thread's creating `<pid>` and
    /// read-locking it, our unlocked probe of `<pid>` would take it for a dead process's file and
    /// replace it, leaving that thread's roots in an unlinked file no collector reads.
    private static let creation = ConditionLock()

    init(layout: StoreLayout) throws(SystemError) {
        (fd, path) = try Self.creation.withLock { () throws(SystemError) in try Self.create(layout) }
    }

    /// A spare file of the state directory renamed to `path` (SpareInodes), if there is one.
    private static func spareFile(_ layout: StoreLayout, _ path: String) -> FileDescriptor? {
        guard let directory = try? FileDescriptor.open(layout.tempRootsDirectory, [.readOnly, .directory]) else { return nil }
        let name = Array(path.dropFirst(layout.tempRootsDirectory.count + 1).utf8)
        return SpareInodes(directory: layout.stateDirectory).take(.file, as: name, in: directory, mode: 0o600).file
    }

    private static func create(_ layout: StoreLayout) throws(SystemError) -> (FileDescriptor, String) {
        let base = layout.tempRootsFile(pid: ProcessIdentity.processID)
        var path = base
        var instance = 0
        while true {
            let gcLock = try FileDescriptor.open(layout.gcLock, [.readWrite, .create], mode: 0o600)
            try gcLock.lock(.read, wait: true)
            // Another LocalStore of this process may hold `<pid>` (the daemon serves each
            // connection in a thread with its own store): replacing its file would drop its
            // roots, so take `<pid>-<n>` (collectors read every file, whatever its name). A file
            // nobody holds is a dead process's with our pid: start afresh.
            if let existing = try? FileDescriptor.open(path, [.readWrite, .noFollow]), try !existing.lock(.write, wait: false) {
                instance += 1
                path = base + "-\(instance)"
                continue
            }
            do { try FileDescriptor.currentDirectory.remove(at: Array(path.utf8)) } catch where error.errno == .noSuchFile {}
            let fd: FileDescriptor
            if let spare = Self.spareFile(layout, path) { fd = spare } else { fd = try FileDescriptor.open(path, [.readWrite, .create], mode: 0o600) }
            try gcLock.close()
            try fd.lock(.read, wait: true)
            // A collector may have removed the file between our open and lock (it thought us
            // dead): then the file we hold is unlinked and useless, so try again.
            if try fd.status().linkCount == 0 { continue }
            return (fd, path)
        }
    }

    func add(_ absolutePath: String) throws(SystemError) {
        try fd.lock(.write, wait: true)
        _ = try fd.seek(to: 0, whence: 2 /* SEEK_END */)
        try fd.writeAll(Array(absolutePath.utf8) + [0])
        try fd.lock(.read, wait: true)
    }
}

extension LocalStore {
    /// Protects `path` from any GC until this process exits (worker op AddTempRoot).
    public func addTempRoot(_ path: StorePath) throws(LocalStoreError) {
        do {
            if tempRoots == nil { tempRoots = try TempRootsFile(layout: layout) }
            try tempRoots?.add(absolute(path))
        } catch { throw .system(error) }
    }
}
