/// What Nix 2.8's build Worker reports to a Nix client around BuildPaths, BuildPathsWithResults
/// and BuildDerivation (build/worker.cc, derivation-goal.cc): activities `realise`, `builds` and
/// `copyPaths` for the whole request; a progress round (`updateProgress`: builds and copies
/// progress, expected file transfers and copies) when each derivation goal is made and when one
/// finds its outputs already valid; the `querying info about missing paths` activity; then the
/// three activities stop, innermost first. A goal that fails before building (e.g. a platform
/// Cloister cannot build for) ends the request without another round, as Nix's exception does.
/// Also the DrvOutput realisations Nix returns in build results (formats.md §6.5).
import StoreFormats
import WorkerProtocol
import LocalStore
import LinuxSystem

final class NixBuildProgress {
    let log: ActivityLog
    let realise: UInt64, builds: UInt64, copies: UInt64
    var expectedBuilds: UInt64 = 0
    var doneBuilds: UInt64 = 0
    var failedBuilds: UInt64 = 0

    init(_ log: ActivityLog) throws {
        self.log = log
        realise = try log.start(.realise)
        builds = try log.start(.builds)
        copies = try log.start(.copyPaths)
    }

    func round() throws {
        try log.progress(builds, done: doneBuilds, expected: expectedBuilds + doneBuilds, running: 0, failed: failedBuilds)
        try log.progress(copies, done: 0, expected: 0)
        try log.setExpected(realise, .fileTransfer, 0)
        try log.setExpected(realise, .copyPath, 0)
    }

    /// Goals made: one round per derivation goal; then the worker's queryMissing.
    func begin(derivationGoals: Int) throws {
        for _ in 0..<derivationGoals { expectedBuilds += 1; try round() }
        try log.within(.unknown, level: .debug, text: "querying info about missing paths") { _ in }
    }

    /// A derivation goal that found its outputs valid.
    func alreadyValid() throws {
        expectedBuilds -= 1
        try round()
    }

    func end() throws {
        try log.stop(copies)
        try log.stop(builds)
        try log.stop(realise)
    }
}

extension LocalStoreService {
    /// Runs `body` inside Nix's worker frame when the client is Nix >= 1.20; `isDerivationGoal`
    /// says which targets Nix makes a derivation goal for.
    func withNixBuildFrame(derivationGoals: Int, _ body: () throws -> [BuilderResultSummary]) throws -> [BuilderResultSummary] {
        guard isNix, let log = activityLog, log.receivesActivities else { return try body() }
        let progress = try NixBuildProgress(log)
        do {
            try progress.begin(derivationGoals: derivationGoals)
            let results = try body()
            for r in results where r.isDerivationGoal && r.alreadyValid { try progress.alreadyValid() }
            try progress.end()
            return results
        } catch {
            try? progress.end()
            throw error
        }
    }

    /// `sha256:<hashDerivationModulo>!<output>` → Realisation JSON, as Nix 2.8 returns them.
    func realisations(_ drvPath: StorePath, _ outputs: [String: StorePath]) -> [(String, String)] {
        guard isNix, !outputs.isEmpty, let derivation = try? readDerivation(drvPath) else { return [] }
        let store = self.store
        var hasher = DerivationHasher(store: store.storeDirectory) { (path: StorePath) throws(FormatError) -> Derivation in
            guard let bytes = try? FileDescriptor.open(store.layout.absolute(path), [.readOnly, .noFollow]).readAll() else {
                throw .unresolvedDerivation(store.layout.absolute(path), reason: "cannot read it")
            }
            return try Derivation(aterm: bytes, store: store.storeDirectory)
        }
        guard let hash = try? hasher.hashModulo(derivation, maskOutputs: true) else { return [] }
        return outputs.sorted { $0.key < $1.key }.map { name, path in
            let id = "sha256:\(hash.base16)!\(name)"
            return (id, "{\"dependentRealisations\":{},\"id\":\"\(id)\",\"outPath\":\"\(path.baseName)\",\"signatures\":[]}")
        }
    }

    func readDerivation(_ path: StorePath) throws -> Derivation {
        let bytes = try FileDescriptor.open(store.layout.absolute(path), [.readOnly, .noFollow]).readAll()
        return try Derivation(aterm: bytes, store: store.storeDirectory)
    }
}

/// What the frame needs to know of each target's outcome.
struct BuilderResultSummary {
    var isDerivationGoal: Bool
    var alreadyValid: Bool
}
