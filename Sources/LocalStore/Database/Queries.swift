/// Read-only questions about valid paths (worker ops IsValidPath, QueryPathInfo,
/// QueryReferences, QueryReferrers, QueryDeriver, QueryValidDerivers, QueryDerivationOutputs,
/// QueryPathFromHashPart, QueryAllValidPaths) and the closure walk behind `--requisites`.
import StoreFormats

extension LocalStore {
    public func isValidPath(_ path: StorePath) throws(LocalStoreError) -> Bool {
        try database.isValid(path)
    }

    /// The subset of `paths` that is valid.
    public func queryValidPaths(_ paths: some Sequence<StorePath>) throws(LocalStoreError) -> Set<StorePath> {
        var out = Set<StorePath>()
        for p in paths where try database.isValid(p) { out.insert(p) }
        return out
    }

    public func queryAllValidPaths() throws(LocalStoreError) -> [StorePath] {
        try database.allValidPaths()
    }

    /// nil if `path` is not valid.
    public func queryPathInfo(_ path: StorePath) throws(LocalStoreError) -> ValidPathInfo? {
        try database.queryPathInfo(path)
    }

    public func queryReferences(_ path: StorePath) throws(LocalStoreError) -> [StorePath] {
        guard try database.isValid(path) else { throw .invalidPath(absolute(path)) }
        return try database.references(path).sorted()
    }

    /// Valid paths that refer to `path` (including itself if it refers to itself).
    public func queryReferrers(_ path: StorePath) throws(LocalStoreError) -> [StorePath] {
        guard try database.isValid(path) else { throw .invalidPath(absolute(path)) }
        return try database.referrers(path).sorted()
    }

    public func queryDeriver(_ path: StorePath) throws(LocalStoreError) -> StorePath? {
        guard let info = try database.queryPathInfo(path) else { throw .invalidPath(absolute(path)) }
        return info.deriver
    }

    /// Valid derivations with an output at `path` (from DerivationOutputs).
    public func queryValidDerivers(_ path: StorePath) throws(LocalStoreError) -> [StorePath] {
        try database.validDerivers(path).sorted()
    }

    /// The outputs `(id, path)` of the valid derivation `drv`, by output id.
    public func queryDerivationOutputs(_ drv: StorePath) throws(LocalStoreError) -> [(id: String, path: StorePath)] {
        try database.derivationOutputs(drv)
    }

    public func queryPathFromHashPart(_ hashPart: String) throws(LocalStoreError) -> StorePath? {
        try database.pathFromHashPart(hashPart)
    }

    /// The closure of `paths` under references (`guix gc --requisites`). With `includeOutputs`,
    /// the valid outputs of every derivation reached are added too, and with `includeDerivers`
    /// the valid derivers of every path.
    public func queryRequisites(_ paths: some Sequence<StorePath>, includeOutputs: Bool = false,
                                includeDerivers: Bool = false) throws(LocalStoreError) -> Set<StorePath> {
        var closure = Set<StorePath>()
        var pending = Array(paths)
        return try database.db.reading { () throws(LocalStoreError) -> Set<StorePath> in
            while let path = pending.popLast() {
                guard closure.insert(path).inserted else { continue }
                guard try database.isValid(path) else { throw .invalidPath(absolute(path)) }
                pending += try database.references(path)
                if includeOutputs && path.isDerivation {
                    for (_, output) in try database.derivationOutputs(path) where try database.isValid(output) {
                        pending.append(output)
                    }
                }
                if includeDerivers, let deriver = try database.queryPathInfo(path)?.deriver, try database.isValid(deriver) {
                    pending.append(deriver)
                }
            }
            return closure
        }
    }
}
