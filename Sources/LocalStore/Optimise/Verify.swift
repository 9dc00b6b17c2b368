/// Store verification (local-store.cc verifyStore; `guix gc --verify[=contents,repair]`):
/// every valid path must exist (a missing one without referrers is invalidated, as guix-daemon
/// does); with `checkContents`, its NAR hash is recomputed and compared with the database; with
/// `repair`, metadata is put right — canonical permissions, mtime and owner, and a missing
/// narSize filled in. A modified path's contents are never "repaired" into the database:
/// that would bless the corruption (it needs a substitute or a rebuild).
import StoreFormats
import LinuxSystem

public struct VerifyResult: Sendable {
    /// What was found, in the order found.
    public var problems: [VerifyProblem] = []
    /// Paths whose contents differ from the database.
    public var modifiedPaths: [StorePath] = []
    public var repairedPaths: [StorePath] = []
    public init() {}
}

/// One finding of `verifyStore`, worded by `message(_:)` as each daemon says it
/// (local-store.cc verifyStore / verifyPath).
public enum VerifyProblem: Sendable, Hashable {
    /// Gone from disk and nothing refers to it: invalidated.
    case disappeared(String)
    /// Gone from disk but still referred to: left valid (an error).
    case disappearedWithReferrers(String)
    /// Its contents could not be read to hash them.
    case unreadable(String, reason: String)
    /// Its contents no longer hash to the registered NAR hash.
    case modified(String, recorded: Hash, actual: Hash)
    /// `repair` put its permissions, times or owner right.
    case repairedMetadata(String)

    /// Found while checking that valid paths exist (before any contents are hashed).
    public var isExistenceProblem: Bool {
        switch self {
        case .disappeared, .disappearedWithReferrers: true
        default: false
        }
    }

    /// Nix 2.8 prints hashes as `sha256:<nix32>`, guix-daemon as hex.
    public func message(_ style: MessageStyle) -> String {
        switch self {
        case .disappeared(let path): "path \(style.quoted(path)) disappeared, removing from database..."
        case .disappearedWithReferrers(let path): "path \(style.quoted(path)) disappeared, but it still has valid referrers!"
        case .unreadable(let path, let reason): "cannot read \(style.quoted(path)): \(reason)"
        case .modified(let path, let recorded, let actual):
            "path \(style.quoted(path)) was modified! expected hash "
                + (style == .nix ? "'\(recorded.prefixedNix32)', got '\(actual.prefixedNix32)'" : "`\(recorded.base16)', got `\(actual.base16)'")
        case .repairedMetadata(let path): "repaired the metadata of \(style.quoted(path))"
        }
    }
}

extension LocalStore {
    public func verifyStore(checkContents: Bool, repair: Bool) throws(LocalStoreError) -> VerifyResult {
        var result = VerifyResult()
        for path in try queryAllValidPaths().sorted() {
            let name = Array(path.baseName.utf8)
            guard (try? storeFD.status(at: name)) != nil else {
                let referrers = try database.referrers(path).filter { $0 != path }
                if referrers.isEmpty {
                    result.problems.append(.disappeared(absolute(path)))
                    try invalidatePath(path)
                } else {
                    result.problems.append(.disappearedWithReferrers(absolute(path)))
                }
                continue
            }
            guard let info = try database.queryPathInfo(path) else { continue }
            if checkContents {
                let current: (hash: Hash, size: UInt64)
                do { current = try StoreObjectDumper.narHash(in: storeFD, name: name) } catch {
                    result.problems.append(.unreadable(absolute(path), reason: "\(error)"))
                    result.modifiedPaths.append(path)
                    continue
                }
                if current.hash != info.narHash {
                    result.problems.append(.modified(absolute(path), recorded: info.narHash, actual: current.hash))
                    result.modifiedPaths.append(path)
                } else if info.narSize == 0 && repair {
                    var fixed = info
                    fixed.narSize = current.size
                    try database.db.transaction { () throws(LocalStoreError) in try database.updatePathInfo(fixed) }
                    result.repairedPaths.append(path)
                }
            }
            if repair {
                guard let locks = try lockPaths([path]) else { continue }
                locks.deleteOnRelease = true  // a valid path's lock file is not kept
                defer { locks.release() }
                if try needsCanonicalisation(name) {
                    try Canonicaliser.canonicalise(in: storeFD, name: name, displayPath: absolute(path))
                    result.problems.append(.repairedMetadata(absolute(path)))
                    result.repairedPaths.append(path)
                }
            }
        }
        return result
    }

    /// Whether any entry under `name` has non-canonical mode, mtime or owner.
    func needsCanonicalisation(_ name: [UInt8]) throws(LocalStoreError) -> Bool {
        func check(_ parent: FileDescriptor, _ name: [UInt8]) throws -> Bool {
            let s = try parent.status(at: name)
            if s.owner != ProcessIdentity.effectiveUserID || s.modificationSeconds != Canonicaliser.storeTime { return true }
            if s.type != .symlink && s.permissions != 0o444 && s.permissions != 0o555 { return true }
            guard s.type == .directory else { return false }
            let dir = try parent.openDirectory(at: name)
            for entry in try dir.entryNames() where try check(dir, entry) { return true }
            return false
        }
        do { return try check(storeFD, name) } catch { return true }
    }
}
