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
/// belong to this process; at exit a daemon worker hands up to `limit` per directory on to the
/// next worker (each connection is a new process, so without this every build of a one-build
/// session made and deleted its directories): they wait in `<directory>/.cloister-spares`
/// (0700, the daemon's, checked before each use), and a worker claims one by renaming it to
/// its private name (atomic: two workers never get the same). `Builder.waitForCleanup()`
/// deletes the rest; any left by a crash are invalid store entries (GC) or dead TMPDIR trees.
import LinuxSystem
import LocalStore

final class SpareDirectories: @unchecked Sendable {
    static let shared = SpareDirectories()
    /// More (per directory) would only hold inodes nobody needs: builds run at most max-jobs at a time.
    static let limit = 8

    enum Kind: Equatable { case chroot, buildTree }

    private let lock = ConditionLock()
    // Guarded by `lock`: (directory path, name) of each spare, by kind.
    private var spares: [Kind: [(directory: String, name: [UInt8])]] = [:]


    /// A spare of `kind` in `directory` (a path), now owned by the caller, if there is one: the
    /// latest (a chroot's kept mount points are likeliest to be the next build's), else one an
    /// earlier worker handed on.
    func take(_ kind: Kind, in directory: String) -> [UInt8]? {
        let own = lock.withLock { () -> [UInt8]? in
            guard let index = spares[kind]?.lastIndex(where: { $0.directory == directory }) else { return nil }
            return spares[kind]?.remove(at: index).name
        }
        return own ?? claimShared(kind, in: directory)
    }

    private static func prefix(_ kind: Kind) -> String { kind == .chroot ? "chroot-" : "tree-" }

    private func sharedDirectory(_ parent: FileDescriptor, create: Bool) -> FileDescriptor? {
        SpareInodes.shared(in: parent, create: create)
    }

    /// Renames a handed-on spare of `kind` to a private name in `directory`.
    private func claimShared(_ kind: Kind, in directory: String) -> [UInt8]? {
        guard let parent = try? FileDescriptor.open(directory, [.readOnly, .directory]),
              let shared = sharedDirectory(parent, create: false),
              let names = try? shared.entryNames() else { return nil }
        for name in names where name.starts(with: Array(Self.prefix(kind).utf8)) {
            let mine = Array(".trash-build-\(ProcessIdentity.processID)-spare-\(UInt64.random(in: 0...UInt64.max))".utf8)
            if (try? shared.renameNoReplace(at: name, to: parent, mine)) != nil { return mine }
        }
        return nil
    }

    /// Makes sure a spare of `kind` waits in `directory`'s `.cloister-spares` (a canonical
    /// path): one an earlier worker handed on, else a new skeleton made there now. A spare
    /// worker does this while it waits for its client (at SCHED_IDLE), so a session's first
    /// build claims it (`take`) instead of making these directories on its critical path.
    /// It waits in the shared directory, not under a name of this process: the collector
    /// leaves that directory alone, and any worker may use it.
    func prepare(_ kind: Kind, in directory: String) {
        guard let parent = try? FileDescriptor.open(directory, [.readOnly, .directory]),
              let shared = sharedDirectory(parent, create: true), let names = try? shared.entryNames() else { return }
        let prefix = Array(Self.prefix(kind).utf8)
        if names.contains(where: { $0.starts(with: prefix) }) { return }
        let name = prefix + Array("\(ProcessIdentity.processID)-ahead-\(UInt64.random(in: 0...UInt64.max))".utf8)
        do throws(SystemError) {
            try shared.makeDirectory(at: name, mode: kind == .chroot ? 0o750 : 0o700)
            let wrapper = try shared.openDirectory(at: name)
            try wrapper.makeDirectory(at: Array("top".utf8), mode: kind == .chroot ? 0o750 : 0o700)
            if kind == .chroot {
                try wrapper.makeDirectory(at: Array("store".utf8), mode: 0o755)
                try wrapper.open(at: Array(ChrootDirectory.stubName.utf8), [.writeOnly, .create, .exclusive, .noFollow], mode: 0o600).close()
            }
        } catch {
            try? shared.removeTree(at: name)
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

    /// Deletes every spare (at exit), or with `handOn` first moves up to `limit` per directory
    /// and kind to `.cloister-spares` for the next worker.
    func removeAll(handOn: Bool = false) {
        let all = lock.withLock { () -> [(kind: Kind, directory: String, name: [UInt8])] in
            defer { spares.removeAll() }
            return spares.flatMap { kind, list in list.map { (kind, $0.directory, $0.name) } }
        }
        for spare in all {
            guard let parent = try? FileDescriptor.open(spare.directory, [.readOnly, .directory]) else { continue }
            if handOn, let shared = sharedDirectory(parent, create: true),
               let names = try? shared.entryNames(),
               names.count { $0.starts(with: Array(Self.prefix(spare.kind).utf8)) } < Self.limit {
                let name = Array((Self.prefix(spare.kind) + "\(ProcessIdentity.processID)-\(UInt64.random(in: 0...UInt64.max))").utf8)
                if (try? parent.renameNoReplace(at: spare.name, to: shared, name)) != nil { continue }
            }
            try? parent.removeTree(at: spare.name)
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
