/// Store verification (local-store.cc verifyStore; `guix gc --verify[=contents,repair]`):
/// every valid path must exist (a missing one without referrers is invalidated, as guix-daemon
/// does); with `checkContents`, its NAR hash is recomputed and compared with the database; with
/// `repair`, metadata is put right — canonical permissions, mtime and owner, and a missing
/// narSize filled in. A modified path's contents are never "repaired" into the database:
/// that would bless the corruption (it needs a substitute or a rebuild).
import StoreFormats
import LinuxSystem

public struct VerifyResult: Sendable {
    /// One line per problem found, in guix-daemon's words.
    public var problems: [String] = []
    /// Paths whose contents differ from the database.
    public var modifiedPaths: [StorePath] = []
    public var repairedPaths: [StorePath] = []
    public init() {}
}

extension LocalStore {
    public func verifyStore(checkContents: Bool, repair: Bool) throws(LocalStoreError) -> VerifyResult {
        var result = VerifyResult()
        for path in try queryAllValidPaths().sorted() {
            let name = Array(path.baseName.utf8)
            guard (try? storeFD.status(at: name)) != nil else {
                let referrers = try database.referrers(path).filter { $0 != path }
                if referrers.isEmpty {
                    result.problems.append("path `\(absolute(path))' disappeared, removing from database...")
                    try invalidatePath(path)
                } else {
                    result.problems.append("path `\(absolute(path))' disappeared, but it still has valid referrers!")
                }
                continue
            }
            guard let info = try database.queryPathInfo(path) else { continue }
            if checkContents {
                let current: (hash: Hash, size: UInt64)
                do { current = try StoreObjectDumper.narHash(in: storeFD, name: name) } catch {
                    result.problems.append("cannot read `\(absolute(path))': \(error)")
                    result.modifiedPaths.append(path)
                    continue
                }
                if current.hash != info.narHash {
                    result.problems.append("path `\(absolute(path))' was modified! expected hash `\(info.narHash.base16)', got `\(current.hash.base16)'")
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
                defer { locks.release() }
                if try needsCanonicalisation(name) {
                    try Canonicaliser.canonicalise(in: storeFD, name: name, displayPath: absolute(path))
                    result.problems.append("repaired the metadata of `\(absolute(path))'")
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
