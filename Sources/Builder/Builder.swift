/// Builder: goals and scheduling, build users, the plan that turns a derivation into a sandbox
/// specification, logs, output checks and registration (guix-daemon.md §1–§5).
///
/// Public entry point (stable; the Daemon's BuildPaths, BuildPathsWithResults, BuildDerivation,
/// EnsurePath and QueryMissing call these):
///
/// ```
/// let builder = Builder(store: localStore, settings: settings)   // one per request/connection
/// let results = builder.build([.derivation(drv, outputs: nil), .path(p)], mode: .normal) { event in … }
/// let one = builder.buildDerivation(drvPath, derivation, mode: .normal) { event in … }
/// let missing = try builder.queryMissing(targets)
/// ```
///
/// - `build` returns one `BuildResult` per target, in order; `workerExitStatus(results)` gives
///   Guix's 100/101/1 and `Builder.failureMessage(targets:results:)` the request-level error.
/// - Events (`BuildEvent`: builder output chunks and message lines, including `@ build-…`
///   traces when `settings.printBuildTrace`) arrive one at a time, from build threads.
/// - Mode: a root daemon with `settings.buildUsersGroup` uses the build-user pool (§2); any
///   other daemon runs each build in a user namespace (§3).
/// - `cancel()` (any thread) kills the running builds and starts no new one: call it when the
///   client hangs up. `BuildMode.check` rebuilds the top-level targets and compares (§4.9);
///   `.repair` builds like `.normal`.
/// - The `LocalStore` is used from the calling thread and build threads, one at a time, and
///   must not be used by the caller while `build` runs.
import StoreFormats
import LocalStore
import LinuxSystem

public final class Builder: @unchecked Sendable {
    public let settings: BuildSettings
    let store: SharedStore
    let cancellation = Cancellation()

    public init(store: LocalStore, settings: BuildSettings) {
        self.store = SharedStore(store)
        self.settings = settings
    }

    var pool: BuildUserPool? {
        settings.buildUsersGroup.map {
            BuildUserPool(groupName: $0, directory: settings.userPoolDirectory ?? store.layout.userPoolDirectory)
        }
    }

    /// Makes every target valid, building what is missing.
    public func build(_ targets: [BuildTarget], mode: BuildMode = .normal,
                      events sink: @escaping BuildEventSink = { _ in }) -> [BuildResult] {
        let events = EventChannel(sink)
        var graph = GoalGraph()
        var early: [Int: BuildResult] = [:]
        for (index, target) in targets.enumerated() {
            do {
                switch target {
                case .path(let path):
                    if try store.query({ try $0.isValidPath(path) }) {
                        early[index] = BuildResult(status: .alreadyValid)
                    } else if path.isDerivation {
                        early[index] = BuildResult(status: .miscFailure, errorMessage: "path `\(store.layout.absolute(path))' is not valid")
                    } else {
                        early[index] = BuildResult(status: .miscFailure,
                                                   errorMessage: "path `\(store.layout.absolute(path))' is not valid and no substitute is available")
                    }
                case .derivation(let drvPath, _):
                    try graph.add(drvPath, store: store)
                    if mode == .check { graph.goals[drvPath]?.check = true }
                }
            } catch {
                early[index] = BuildResult(status: .miscFailure, errorMessage: error.description)
            }
        }
        let results = Scheduler(store: store, settings: settings, events: events, pool: pool, cancellation: cancellation).run(graph)
        return targets.enumerated().map { index, target in
            if let result = early[index] { return result }
            guard case .derivation(let drvPath, let wanted) = target else { return BuildResult(status: .miscFailure) }
            if let result = results[drvPath] { return select(result, wanted) }
            // Not a goal: every wanted output was valid already.
            let outputs = (try? store.query { try BuildPlanner.derivationOutputs(drvPath, store: $0) }) ?? [:]
            return select(BuildResult(status: .alreadyValid, builtOutputs: outputs), wanted)
        }
    }

    /// BuildDerivation: builds `derivation` (sent by the client, possibly not in the store) as
    /// `drvPath`. Its inputs must be valid already; nothing else is built.
    public func buildDerivation(_ drvPath: StorePath, _ derivation: Derivation, mode: BuildMode = .normal,
                                events sink: @escaping BuildEventSink = { _ in }) -> BuildResult {
        let events = EventChannel(sink)
        var graph = GoalGraph()
        graph.goals[drvPath] = Goal(drvPath: drvPath, derivation: derivation, dependencies: [], check: mode == .check)
        return Scheduler(store: store, settings: settings, events: events, pool: pool, cancellation: cancellation).run(graph)[drvPath]
            ?? BuildResult(status: .miscFailure)
    }

    /// Waits until the chroots and build trees of finished builds are deleted (they are
    /// removed in the background so results reach the client sooner), spares included
    /// (SpareDirectories). Call before exiting. `handOnSpares`: a daemon worker leaves some
    /// for the next worker instead.
    public static func waitForCleanup(handOnSpares: Bool = false) {
        Janitor.shared.waitUntilIdle()
        SpareDirectories.shared.removeAll(handOn: handOnSpares)
    }

    /// A worker waiting for its client: a chroot skeleton (if builds use a chroot) and a build
    /// tree made or claimed ahead (SpareDirectories.prepare).
    public static func prepareSpares(storeDirectory: String, stateDirectory: String, logDirectory: String, settings: BuildSettings) {
        // A build's new files: its outputs' lock files, this process's temp-roots file, its log
        // file and maybe the log's `drvs/XX` (SpareInodes).
        SpareInodes(directory: storeDirectory).prepare(.file, count: 2)
        SpareInodes(directory: stateDirectory).prepare(.file, count: 1)
        if settings.keepLog {
            SpareInodes(directory: logDirectory + "/drvs").prepare(.file, count: 1)
            SpareInodes(directory: logDirectory + "/drvs").prepare(.directory, count: 1)
        }
        if settings.useChroot { SpareDirectories.shared.prepare(.chroot, in: storeDirectory) }
        if let temporary = try? HostPath.canonical(settings.temporaryDirectory) {
            SpareDirectories.shared.prepare(.buildTree, in: temporary)
        }
    }

    /// Interrupts the running request from another thread (client hang-up): kills every
    /// running build and starts no new one; the affected results are MiscFailure.
    public func cancel() { cancellation.cancel() }

    private func select(_ result: BuildResult, _ wanted: Set<String>?) -> BuildResult {
        guard let wanted else { return result }
        var copy = result
        copy.builtOutputs = result.builtOutputs.filter { wanted.contains($0.key) }
        return copy
    }

    /// QueryMissing without substituters: derivations that would be built and paths that are
    /// neither valid nor buildable.
    public func queryMissing(_ targets: [BuildTarget]) throws(BuildError) -> MissingPaths {
        var missing = MissingPaths()
        var pending: [(StorePath, Set<String>?)] = []
        for target in targets {
            switch target {
            case .path(let path):
                if !(try store.query { try $0.isValidPath(path) }) { missing.unknown.insert(path) }
            case .derivation(let drvPath, let outputs):
                pending.append((drvPath, outputs))
            }
        }
        var seen = Set<StorePath>()
        while let (drvPath, wanted) = pending.popLast() {
            guard seen.insert(drvPath).inserted else { continue }
            guard try store.query({ try $0.isValidPath(drvPath) }) else { missing.unknown.insert(drvPath); continue }
            let outputs = try store.query { try BuildPlanner.derivationOutputs(drvPath, store: $0) }
            let paths = outputs.filter { wanted?.contains($0.key) ?? true }.map(\.value)
            let valid = try store.query { try $0.queryValidPaths(paths) }
            if valid.count == Set(paths).count { continue }
            missing.willBuild.insert(drvPath)
            let derivation = try store.query { try DerivationFile.read(drvPath, store: $0) }
            for (input, names) in derivation.inputDerivations { pending.append((input, names)) }
            for source in derivation.inputSources where !(try store.query { try $0.isValidPath(source) }) {
                missing.unknown.insert(source)
            }
        }
        return missing
    }

    /// The request-level error of BuildPaths when some target failed (build.cc: ``build of
    /// `A', `B' failed``), with the worker exit status; nil if all succeeded.
    public static func failureMessage(targets: [BuildTarget], results: [BuildResult], store: StoreDirectory) -> (message: String, status: Int32)? {
        let failed = zip(targets, results).filter { !$0.1.isSuccess }
        guard !failed.isEmpty else { return nil }
        if failed.count == 1, let only = failed.first, !only.1.errorMessage.isEmpty {
            return (only.1.errorMessage, workerExitStatus(results))
        }
        let names = failed.map { target, _ -> String in
            switch target {
            case .derivation(let path, _), .path(let path): return "`\(path.absolute(in: store))'"
            }
        }
        return ("build of \(names.joined(separator: ", ")) failed", workerExitStatus(results))
    }
}

/// QueryMissing's answer (no substituters: willSubstitute stays empty, sizes 0).
public struct MissingPaths: Sendable, Equatable {
    public var willBuild = Set<StorePath>()
    public var willSubstitute = Set<StorePath>()
    public var unknown = Set<StorePath>()
    public var downloadSize: UInt64 = 0
    public var narSize: UInt64 = 0
    public init() {}
}
