/// Store verification (local-store.cc verifyStore; `guix gc --verify[=contents,repair]`), in
/// Nix's phases: every valid path must exist (a missing one without referrers is invalidated,
/// as guix-daemon does); with `checkContents` and `checkLinks` (Nix 2.8 only), every `.links`
/// entry must hash to its name (a modified one is removed with `repair`); with `checkContents`,
/// each present path's NAR hash is recomputed and compared with the database; with `repair`,
/// metadata is put right — canonical permissions, mtime and owner, and a missing narSize
/// filled in. A modified path's contents are never "repaired" into the database: that would
/// bless the corruption (it needs a substitute or a rebuild).
import StoreFormats
import LinuxSystem

public struct VerifyResult: Sendable {
    /// What was found, in the order found.
    public var problems: [VerifyProblem] = []
    /// Paths whose contents differ from the database.
    public var modifiedPaths: [StorePath] = []
    public var repairedPaths: [StorePath] = []
    /// `.links` entries whose contents differ from their name and were left in place.
    public var modifiedLinks: [[UInt8]] = []
    /// With `recordChecks`: what was hashed, in order, each with how many problems had been
    /// found before it, so a reporter can put Nix's per-item line (`checking contents of …`)
    /// among the findings where nix-daemon says it. Empty otherwise (nothing is kept for a
    /// client that will not see the lines).
    public var checks: [VerifyCheck] = []
    public init() {}
}

/// One `.links` entry or valid path whose contents `verifyStore` hashed.
public struct VerifyCheck: Sendable, Equatable {
    public enum Subject: Sendable, Equatable {
        /// A `.links` entry's name.
        case link([UInt8])
        case path(StorePath)
    }
    public var subject: Subject
    /// How many of `VerifyResult.problems` were found before this check began.
    public var problemsBefore: Int
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
    /// A `.links` entry (its path) no longer hashes to its name (nix32 SHA-256 of its NAR).
    case modifiedLink(String, expected: String, actual: String)
    /// `repair` removed a modified `.links` entry (its path).
    case removedLink(String)

    /// Found while checking that valid paths exist (before any contents are hashed).
    public var isExistenceProblem: Bool {
        switch self {
        case .disappeared, .disappearedWithReferrers: true
        default: false
        }
    }

    /// Found while checking `.links` entries (after existence, before the paths' contents).
    public var isLinkProblem: Bool {
        switch self {
        case .modifiedLink, .removedLink: true
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
        case .modifiedLink(let path, let expected, let actual):
            "link \(style.quoted(path)) was modified! expected hash \(style.quoted(expected)), got \(style.quoted(actual))"
        case .removedLink(let path): "removed link \(style.quoted(path))"
        }
    }
}

extension LocalStore {
    /// `checkLinks`: also hash the `.links` entries (Nix 2.8 does, guix-daemon does not);
    /// `recordChecks`: keep `VerifyResult.checks` (for a client that sees per-item lines).
    public func verifyStore(checkContents: Bool, repair: Bool, checkLinks: Bool = false,
                            recordChecks: Bool = false) throws(LocalStoreError) -> VerifyResult {
        var result = VerifyResult()
        var present: [StorePath] = []
        for path in try queryAllValidPaths().sorted() {
            guard (try? storeFD.status(at: Array(path.baseName.utf8))) != nil else {
                let referrers = try database.referrers(path).filter { $0 != path }
                if referrers.isEmpty {
                    result.problems.append(.disappeared(absolute(path)))
                    try invalidatePath(path)
                } else {
                    result.problems.append(.disappearedWithReferrers(absolute(path)))
                }
                continue
            }
            present.append(path)
        }
        if checkContents && checkLinks { try verifyLinks(repair: repair, recordChecks: recordChecks, into: &result) }
        for path in present {
            if checkContents && recordChecks { result.checks.append(VerifyCheck(subject: .path(path), problemsBefore: result.problems.count)) }
            try verifyPath(path, checkContents: checkContents, repair: repair, into: &result)
        }
        return result
    }

    /// Each `.links` entry against its name, in the directory's order (as Nix reads it).
    private func verifyLinks(repair: Bool, recordChecks: Bool, into result: inout VerifyResult) throws(LocalStoreError) {
        let links: FileDescriptor, names: [[UInt8]]
        do {
            links = try storeFD.openDirectory(at: Array(".links".utf8))
            names = try links.entryNames()
        } catch where error.errno == .noSuchFile { return } catch { throw .system(error) }
        for name in names {
            if recordChecks { result.checks.append(VerifyCheck(subject: .link(name), problemsBefore: result.problems.count)) }
            let expected = String(decoding: name, as: UTF8.self)
            let actual: String
            do { actual = try StoreObjectDumper.narHash(in: links, name: name).hash.nix32 } catch {
                throw .corrupt(layout.linksDirectory + "/" + expected, reason: "\(error)")
            }
            guard actual != expected else { continue }
            let path = layout.linksDirectory + "/" + expected
            result.problems.append(.modifiedLink(path, expected: expected, actual: actual))
            if repair {
                do { try links.remove(at: name) } catch { throw .system(error) }
                result.problems.append(.removedLink(path))
            } else {
                result.modifiedLinks.append(name)
            }
        }
    }

    /// One present valid path: its contents (with `checkContents`) and metadata (with `repair`).
    private func verifyPath(_ path: StorePath, checkContents: Bool, repair: Bool, into result: inout VerifyResult) throws(LocalStoreError) {
        let name = Array(path.baseName.utf8)
        guard let info = try database.queryPathInfo(path) else { return }
        if checkContents {
            let current: (hash: Hash, size: UInt64)
            do { current = try StoreObjectDumper.narHash(in: storeFD, name: name) } catch {
                result.problems.append(.unreadable(absolute(path), reason: "\(error)"))
                result.modifiedPaths.append(path)
                return
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
            guard let locks = try lockPaths([path]) else { return }
            locks.deleteOnRelease = true  // a valid path's lock file is not kept
            defer { locks.release() }
            if try needsCanonicalisation(name) {
                try Canonicaliser.canonicalise(in: storeFD, name: name, displayPath: absolute(path))
                result.problems.append(.repairedMetadata(absolute(path)))
                result.repairedPaths.append(path)
            }
        }
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
