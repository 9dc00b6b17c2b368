/// The goals of one request (guix-daemon.md §5): every derivation in the closure of the request
/// whose wanted outputs are not all valid, with edges to the input derivations that must be
/// built first. Derivations whose outputs are valid are not goals (nothing to do).
import StoreFormats
import LocalStore

struct Goal {
    let drvPath: StorePath
    let derivation: Derivation
    /// Input derivations that are goals too (must succeed first).
    var dependencies: Set<StorePath>
    var dependents: Set<StorePath> = []
    /// Rebuild and compare (`--check`), for top-level targets only.
    var check = false
}

struct GoalGraph {
    var goals: [StorePath: Goal] = [:]

    /// Adds `drvPath` and, recursively, each input derivation with an invalid wanted output.
    /// `given` supplies a derivation not read from the store (BuildDerivation).
    mutating func add(_ drvPath: StorePath, store: SharedStore, given: Derivation? = nil) throws(BuildError) {
        var pending: [(StorePath, Derivation?)] = [(drvPath, given)]
        var order: [StorePath] = []
        while let (path, supplied) = pending.popLast() {
            if goals[path] != nil { continue }
            let derivation: Derivation
            if let supplied {
                derivation = supplied
            } else {
                let present = try store.query { try $0.isValidPath(path) }
                guard present else { throw .misc("path `\(store.layout.absolute(path))' is not valid") }
                derivation = try store.query { try DerivationFile.read(path, store: $0) }
            }
            var dependencies = Set<StorePath>()
            for (input, wanted) in derivation.inputDerivations {
                let outputs = try store.query { try BuildPlanner.derivationOutputs(input, store: $0) }
                let wantedPaths = wanted.compactMap { outputs[$0] }
                let valid = try store.query { try $0.queryValidPaths(wantedPaths) }
                if valid.count < Set(wantedPaths).count || wantedPaths.count < wanted.count {
                    dependencies.insert(input)
                    pending.append((input, nil))
                }
            }
            goals[path] = Goal(drvPath: path, derivation: derivation, dependencies: dependencies)
            order.append(path)
        }
        for path in order {
            for dependency in goals[path]?.dependencies ?? [] { goals[dependency]?.dependents.insert(path) }
        }
    }

    /// Goals with no pending dependency.
    func initiallyReady() -> [StorePath] {
        goals.values.filter { $0.dependencies.isEmpty }.map(\.drvPath).sorted()
    }
}
