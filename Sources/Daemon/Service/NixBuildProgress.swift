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
        try log.progress(builds, done: doneBuilds, expected: expectedBuilds + doneBuilds, running: runningBuilds, failed: failedBuilds)
        try log.progress(copies, done: 0, expected: 0)
        try log.setExpected(realise, .fileTransfer, 0)
        try log.setExpected(realise, .copyPath, 0)
    }

    /// Goals made: one round per requested derivation; then the worker's queryMissing.
    func begin(derivations: [String]) throws {
        for drv in derivations { counted.insert(drv); expectedBuilds += 1; try round() }
        try log.within(.unknown, level: .debug, text: "querying info about missing paths") { _ in }
    }

    /// A derivation goal that found its outputs valid.
    func alreadyValid() throws {
        if expectedBuilds > 0 { expectedBuilds -= 1 }
        try round()
    }

    var runningBuilds: UInt64 = 0
    /// Build activity and unfinished log line per running derivation.
    var running: [String: (id: UInt64, line: [UInt8])] = [:]
    /// Derivations already counted in `expectedBuilds` (the requested ones).
    var counted: Set<String> = []

    /// derivation-goal.cc started(): the `building '<drv>'` activity (fields: drv, machine,
    /// round, rounds), then a round with the build running. A dependency's goal is made
    /// (and counted) only now, as Nix makes it when its dependent needs it.
    func buildStarted(_ drv: String) throws {
        if !counted.contains(drv) { counted.insert(drv); expectedBuilds += 1; try round() }
        let id = try log.start(.build, level: .info, text: "building '\(drv)'", fields: [.string(Array(drv.utf8)), .string([]), .int(1), .int(1)])
        running[drv] = (id, [])
        runningBuilds += 1
        try round()
    }

    /// handleChildOutput: each line of builder output is a `buildLogLine` result ('\r' starts
    /// the line over, as on a terminal).
    func output(_ drv: String, _ bytes: [UInt8]) throws {
        guard var state = running[drv] else { return }
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\n"):
                try log.result(state.id, .buildLogLine, [.string(state.line)])
                state.line = []
            case UInt8(ascii: "\r"): state.line = []
            default: state.line.append(byte)
            }
        }
        running[drv] = state
    }

    /// buildDone + done(): the last partial line, then a round with the build counted done
    /// (or failed), then the activity stops.
    func buildFinished(_ drv: String, succeeded: Bool) throws {
        guard let state = running.removeValue(forKey: drv) else { return }
        if !state.line.isEmpty { try log.result(state.id, .buildLogLine, [.string(state.line)]) }
        if runningBuilds > 0 { runningBuilds -= 1 }
        if expectedBuilds > 0 { expectedBuilds -= 1 }
        if succeeded { doneBuilds += 1 } else { failedBuilds += 1 }
        try round()
        try log.stop(state.id)
    }

    func end() throws {
        try log.stop(copies)
        try log.stop(builds)
        try log.stop(realise)
    }
}

extension LocalStoreService {
    /// Runs `body` inside Nix's worker frame for a Nix client; `derivations` are the requested
    /// ones (Nix makes a derivation goal for each). A client below 1.20 sees what Nix 2.8 sends
    /// it: the activities' texts as lines (`building '<drv>'...`), no builder output (its
    /// `buildLogLine` results are dropped, as TunnelLogger drops them).
    func withNixBuildFrame(derivations: [String], _ body: (NixBuildProgress?) throws -> [BuilderResultSummary]) throws -> [BuilderResultSummary] {
        // A client that asked for guix-daemon's build traces or multiplexed output (the
        // `cloister` CLI speaks the Nix dialect that way) gets guix-daemon's messages instead.
        guard isNix, let log = activityLog, !buildSettings.printBuildTrace, !multiplexedBuildOutput else {
            return try body(nil)
        }
        let progress = try NixBuildProgress(log)
        do {
            try progress.begin(derivations: derivations)
            let results = try body(progress)
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
            guard let bytes = try? store.readDerivationFile(path) else {
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
        return try Derivation(aterm: try store.readDerivationFile(path), store: store.storeDirectory)
    }
}

/// What the frame needs to know of each target's outcome.
struct BuilderResultSummary {
    var isDerivationGoal: Bool
    var alreadyValid: Bool
}
