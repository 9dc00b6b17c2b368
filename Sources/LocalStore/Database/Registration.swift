/// Making paths valid and invalid (local-store.cc registerValidPaths / invalidatePathChecked),
/// and the FailedPaths cache of `--cache-failures`. Registration is one `BEGIN IMMEDIATE`
/// transaction: either every row of every path lands, or none does.
import StoreFormats
import LinuxSystem

extension LocalStore {
    public func registerValidPath(_ info: ValidPathInfo) throws(LocalStoreError) {
        try registerValidPaths([info])
    }

    /// Registers `infos` at once: ValidPaths rows (an already-valid path only gets its hash and
    /// size updated), their Refs (every reference must be valid or among `infos`),
    /// DerivationOutputs for `.drv` files (read from the store), then refuses a reference cycle
    /// among the new paths. Contents must already be in place.
    public func registerValidPaths(_ infos: [ValidPathInfo]) throws(LocalStoreError) {
        try requireWritable()
        let now = WallClock.secondsSinceEpoch
        // Read derivations before taking the write lock; it is the slow part.
        var outputs: [StorePath: [(id: String, path: StorePath)]] = [:]
        for info in infos where info.path.isDerivation {
            let contents = try readDerivationFile(info.path)
            if let custom = derivationOutputs {
                outputs[info.path] = try custom(info.path, contents)
            } else {
                outputs[info.path] = try readDerivationOutputs(info.path, contents, check: configuration.checkDerivationOutputs)
            }
        }
        try database.db.transaction { () throws(LocalStoreError) in
            var ids: [StorePath: Int64] = [:]
            for info in infos {
                if let id = try database.pathID(info.path) {
                    try database.updatePathInfo(info)
                    ids[info.path] = id
                } else {
                    let id = try database.insertValidPath(info, now: now)
                    ids[info.path] = id
                    for (name, output) in outputs[info.path] ?? [] {
                        try database.addDerivationOutput(drv: id, id: name, path: output)
                    }
                }
            }
            for info in infos {
                guard let referrer = ids[info.path] else { continue }
                for reference in info.references {
                    let target: Int64?
                    if let id = ids[reference] { target = id } else { target = try database.pathID(reference) }
                    guard let target else { throw .invalidPath(absolute(reference)) }
                    try database.addReference(referrer: referrer, reference: target)
                }
            }
            try Self.refuseCycles(infos, store: storeDirectory)
        }
    }

    /// A depth-first walk over the references among `infos` (self-references allowed).
    static func refuseCycles(_ infos: [ValidPathInfo], store: StoreDirectory) throws(LocalStoreError) {
        var byPath: [StorePath: ValidPathInfo] = [:]
        for info in infos { byPath[info.path] = info }
        var state: [StorePath: Bool] = [:]  // false = on the stack, true = done
        for start in infos {
            guard state[start.path] == nil else { continue }
            var stack: [(StorePath, [StorePath])] = [(start.path, Array(start.references))]
            state[start.path] = false
            while !stack.isEmpty {
                let last = stack.count - 1
                guard let next = stack[last].1.popLast() else {
                    state[stack[last].0] = true
                    stack.removeLast()
                    continue
                }
                guard next != stack[last].0, let info = byPath[next] else { continue }
                switch state[next] {
                case .some(false): throw .referenceCycle(next.absolute(in: store))
                case .some(true): continue
                case .none:
                    state[next] = false
                    stack.append((next, Array(info.references)))
                }
            }
        }
    }

    /// Makes `path` invalid (its contents stay). Refused while other valid paths refer to it.
    public func invalidatePath(_ path: StorePath) throws(LocalStoreError) {
        try database.db.transaction { () throws(LocalStoreError) in
            guard try database.isValid(path) else { return }
            let referrers = try database.referrers(path).filter { $0 != path }
            guard referrers.isEmpty else {
                throw .pathHasReferrers(absolute(path), referrers: referrers.map(absolute))
            }
            _ = try database.deleteValidPath(path)
        }
        removeSignatureFiles(of: [path])
    }

    // MARK: FailedPaths (`--cache-failures`)

    public func addFailedPath(_ path: StorePath) throws(LocalStoreError) {
        try database.addFailedPath(path, time: WallClock.secondsSinceEpoch)
    }

    public func hasFailedPath(_ path: StorePath) throws(LocalStoreError) -> Bool {
        try database.hasFailed(path)
    }

    /// Absolute paths, as stored.
    public func queryFailedPaths() throws(LocalStoreError) -> [String] {
        try database.failedPaths().sorted()
    }

    public func clearFailedPaths(_ paths: [String]) throws(LocalStoreError) {
        try database.db.transaction { () throws(LocalStoreError) in try database.clearFailedPaths(paths) }
    }
}

extension LocalStore {
    /// `guix gc --vacuum-database`: repack the database file (SQLite VACUUM).
    public func vacuumDatabase() throws(LocalStoreError) {
        try database.db.execute("vacuum")
    }
}
