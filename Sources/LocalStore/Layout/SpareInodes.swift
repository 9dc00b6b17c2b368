/// Empty files and directories made ahead in `<directory>/.cloister-spares` and renamed into
/// place when a build needs a new one (an output's `.lock`, a log's `drvs/XX` and its file).
/// On ext4 without a journal, allocating an inode is searched past every inode freed in the
/// last minutes, which can cost a millisecond per creation right after large deletions (GC);
/// a spare worker makes these while it waits for its client (at SCHED_IDLE), so its first
/// build only renames. A rename is what a creation would have done, seen from anywhere else:
/// the entry appears atomically with the same type, owner and (after `fchmod`) mode.
///
/// The directory `.cloister-spares` is the daemon's own (0700, checked before each use: it may
/// sit beside other users' files), shared by all workers: whoever renames an entry out first
/// has it (RENAME_NOREPLACE; a loser sees ENOENT and tries the next). An entry is used only if
/// it is still what was made — a regular file of size 0 or an empty directory, ours, with one
/// link — so nothing put there by anyone else can be passed off as a new lock file or log.
import LinuxSystem

public struct SpareInodes: Sendable {
    public enum Kind: Sendable { case file, directory }

    /// The directory entries are renamed into (the store directory, the log directory's `drvs`).
    public let directory: String
    public static let sharedName: [UInt8] = Array(".cloister-spares".utf8)

    public init(directory: String) { self.directory = directory }

    /// Tops the spares of `kind` up to `count` (entries made by anyone count).
    public func prepare(_ kind: Kind, count: Int) {
        guard let parent = try? FileDescriptor.open(directory, [.readOnly, .directory]),
              let shared = Self.shared(in: parent, create: true),
              let names = try? shared.entryNames() else { return }
        let prefix = Self.prefix(kind)
        let present = names.count { $0.starts(with: prefix) }
        for _ in present..<max(present, count) {
            let name = prefix + Array("\(ProcessIdentity.processID)-\(UInt64.random(in: 0...UInt64.max))".utf8)
            switch kind {
            case .file:
                guard (try? shared.open(at: name, [.writeOnly, .create, .exclusive, .noFollow], mode: 0o600).close()) != nil else { return }
            case .directory:
                guard (try? shared.makeDirectory(at: name, mode: 0o700)) != nil else { return }
            }
        }
    }

    /// Renames a spare of `kind` to `name` in `target` (a directory on the same file system;
    /// nil: `directory` itself), its mode set first so the entry appears complete, as a creation
    /// would make it; false if there is none, or `name` exists (the caller then does what it
    /// would have done anyway). For a file, returns it opened with `flags`.
    public func take(_ kind: Kind, as name: [UInt8], in target: FileDescriptor? = nil, mode: UInt32,
                     flags: OpenFlags = [.readWrite]) -> (taken: Bool, file: FileDescriptor?) {
        guard let parent = try? FileDescriptor.open(directory, [.readOnly, .directory]),
              let shared = Self.shared(in: parent, create: false),
              let names = try? shared.entryNames() else { return (false, nil) }
        let prefix = Self.prefix(kind)
        for spare in names where spare.starts(with: prefix) {
            var file: FileDescriptor?
            switch kind {
            case .file:
                guard let opened = try? shared.open(at: spare, flags.union([.noFollow]), mode: 0),
                      let status = try? opened.status(), status.type == .regular, status.size == 0,
                      status.owner == ProcessIdentity.effectiveUserID, status.linkCount == 1,
                      (try? opened.changeMode(mode)) != nil else { continue }
                file = opened
            case .directory:
                guard let status = try? shared.status(at: spare), status.type == .directory,
                      status.owner == ProcessIdentity.effectiveUserID,
                      let inside = try? shared.openDirectory(at: spare), (try? inside.entryNames())?.isEmpty == true,
                      (try? inside.changeMode(mode)) != nil else { continue }
            }
            do throws(SystemError) {
                try shared.renameNoReplace(at: spare, to: target ?? parent, name)
            } catch where error.errno == .fileExists {
                return (false, nil)
            } catch { continue }  // Another worker took it first.
            return (true, file)
        }
        return (false, nil)
    }

    static func prefix(_ kind: Kind) -> [UInt8] { Array((kind == .file ? "file-" : "dir-").utf8) }

    /// `.cloister-spares` under `parent`, only if it is a real directory of ours nobody else
    /// may enter (SpareDirectories keeps its skeletons there too).
    public static func shared(in parent: FileDescriptor, create: Bool) -> FileDescriptor? {
        if create { try? parent.makeDirectory(at: sharedName, mode: 0o700) }
        guard let fd = try? parent.openDirectory(at: sharedName), let status = try? fd.status(),
              status.type == .directory, status.owner == ProcessIdentity.effectiveUserID, status.permissions & 0o077 == 0
        else { return nil }
        return fd
    }
}
