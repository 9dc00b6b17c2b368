/// Build trees and chroots are recycled instead of deleted and made again. Every new inode
/// costs: on ext4 without a journal, each allocation is searched past every inode freed in
/// the last minute or so, and a build that makes five directories and deletes five slows down
/// every later one (the 200-derivation DAG of `bench-vs-nix-daemon` spent half the worker's
/// time there). So the Janitor empties a finished build's wrapper (everything the builder made
/// goes, fd-relative, never following symlinks) and keeps the skeleton under its private trash
/// name: the chroot's `<drv>.chroot/{top,store}` in the store directory, the tree's
/// `guix-build-…-N/top` in TMPDIR. The next build renames a spare into place and checks it
/// exactly as a fresh one (type, owner, modes, `top` empty, `store` holding only mount points
/// of earlier builds: see `empty`) before use; any surprise and it makes a fresh one. Spares
/// belong to this process: `Builder.waitForCleanup()` deletes them, and any left by a crash are invalid store entries (GC) or dead TMPDIR trees.
import LinuxSystem

final class SpareDirectories: @unchecked Sendable {
    static let shared = SpareDirectories()
    /// More (per directory) would only hold inodes nobody needs: builds run at most max-jobs at a time.
    static let limit = 8

    enum Kind: Equatable { case chroot, buildTree }

    private let lock = ConditionLock()
    // Guarded by `lock`: (directory path, name) of each spare, by kind.
    private var spares: [Kind: [(directory: String, name: [UInt8])]] = [:]

    /// A spare of `kind` in `directory` (a path), now owned by the caller, if there is one: the
    /// latest (a chroot's kept mount points are likeliest to be the next build's).
    func take(_ kind: Kind, in directory: String) -> [UInt8]? {
        lock.withLock {
            guard let index = spares[kind]?.lastIndex(where: { $0.directory == directory }) else { return nil }
            return spares[kind]?.remove(at: index).name
        }
    }

    /// Names of the spares of `kind` in `directory` (tests).
    func names(_ kind: Kind, in directory: String) -> [[UInt8]] {
        lock.withLock { spares[kind]?.filter { $0.directory == directory }.map(\.name) ?? [] }
    }

    /// Empties the wrapper `name` (in `parent`, whose path is `directory`) down to its
    /// skeleton and keeps it; deletes it instead when there are enough spares or anything is
    /// not as expected. Runs on the Janitor's thread.
    func recycle(_ kind: Kind, _ name: [UInt8], in parent: FileDescriptor, directory: String) {
        let full = lock.withLock { (spares[kind]?.count { $0.directory == directory } ?? 0) >= Self.limit }
        if full || !empty(kind, name, in: parent) {
            try? parent.removeTree(at: name)
            return
        }
        lock.withLock { spares[kind, default: []].append((directory, name)) }
    }

    /// Deletes every spare (at exit).
    func removeAll() {
        let all = lock.withLock { () -> [(directory: String, name: [UInt8])] in
            defer { spares.removeAll() }
            return spares.values.flatMap { $0 }
        }
        for spare in all {
            try? FileDescriptor.open(spare.directory, [.readOnly, .directory]).removeTree(at: spare.name)
        }
    }

    /// Skeleton left: a daemon-owned directory holding only `top` (and `store` and the stub
    /// `mount-point` for a chroot), each a real directory, now empty — but for the mount points
    /// in `store`: links to the stub and empty directories of the daemon's own, which the next
    /// sandbox uses again or removes before its builder starts.
    private func empty(_ kind: Kind, _ name: [UInt8], in parent: FileDescriptor) -> Bool {
        let keep: [[UInt8]] = kind == .chroot ? ChrootDirectory.skeleton : [Array("top".utf8)]
        do {
            let wrapper = try parent.openDirectory(at: name)
            guard try wrapper.status().owner == ProcessIdentity.effectiveUserID else { return false }
            for entry in try wrapper.entryNames() where !keep.contains(entry) { try wrapper.removeTree(at: entry) }
            let stub = kind == .chroot ? try ChrootDirectory.stubStatus(wrapper) : nil
            for inner in keep where inner != Array(ChrootDirectory.stubName.utf8) {
                let fd = try wrapper.openDirectory(at: inner)
                for entry in try fd.entries() where !(inner == Array("store".utf8) && isMountPoint(entry, in: fd, stub: stub)) {
                    try fd.removeTree(at: entry.name)
                }
            }
            return true
        } catch {
            return false
        }
    }

    /// A link to the stub, or an empty directory of ours.
    private func isMountPoint(_ entry: DirectoryEntry, in store: FileDescriptor, stub: FileStatus?) -> Bool {
        switch entry.type {
        case .regular:
            return entry.inode == stub?.inode
        case .directory:
            guard let status = try? store.status(at: entry.name), status.type == .directory,
                  status.owner == ProcessIdentity.effectiveUserID,
                  let entries = try? store.openDirectory(at: entry.name).entryNames() else { return false }
            return entries.isEmpty
        default:
            return false
        }
    }
}
