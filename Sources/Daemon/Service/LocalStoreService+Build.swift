/// BuildPaths, BuildPathsWithResults, BuildDerivation, EnsurePath and QueryMissing over the
/// Builder (guix-daemon.md §5): one `Builder` per request, on the session's thread; the
/// builders' output and the `@ build-…` traces (when the client asked for them) go to the
/// client as STDERR_NEXT as they come; a client that hangs up cancels the builds.
import StoreFormats
import WorkerProtocol
import LocalStore
import LinuxSystem

extension LocalStoreService {
    /// The session's SetOptions on top of the daemon's build settings (§7.5): keep-failed,
    /// keep-going and build traces; the Nix layout's max-jobs, max-silent-time and cores
    /// slots; and the named settings both dialects send. Untrusted clients' other names
    /// arrive as `untrusted-…` and change nothing here.
    func applyBuildOptions(_ options: ClientOptions, _ settings: [ClientOptions.Setting]) {
        var s = buildSettings
        s.keepFailed = options.keepFailed
        s.keepGoing = options.keepGoing
        s.printBuildTrace = options.printBuildTrace
        if let jobs = options.maxBuildJobs { s.maxBuildJobs = Int(clamping: jobs) }
        if let silent = options.maxSilentTime { s.maxSilentTime = Int(clamping: silent) }
        if let cores = options.buildCores { s.buildCores = Int(clamping: cores) }
        for setting in settings where setting.name == "multiplexed-build-output" {
            multiplexedBuildOutput = setting.value == "true"
        }
        for setting in settings where setting.name == "system-features" && isNix {
            s.systemFeatures = Set(setting.value.split(separator: " ").map(String.init))
        }
        for setting in settings {
            guard let n = Int(setting.value), n >= 0 else { continue }
            switch setting.name {
            case "build-timeout", "timeout": s.buildTimeout = n
            case "build-max-silent-time", "max-silent-time": s.maxSilentTime = n
            case "build-max-jobs", "max-jobs": s.maxBuildJobs = n
            case "build-cores", "cores": s.buildCores = n
            case "build-max-log-size", "max-log-size": s.maxLogSize = n
            case "build-repeat", "repeat": s.buildRepeat = n
            default: break
            }
        }
        buildSettings = s
    }

    /// Nix 2.8's default `system-features` on Linux: these three, and `kvm` where /dev/kvm can
    /// be opened for reading and writing.
    static let nixSystemFeatures: Set<String> = {
        var features: Set<String> = ["nixos-test", "benchmark", "big-parallel"]
        if HostPath.isReadableAndWritable("/dev/kvm") { features.insert("kvm") }
        return features
    }()

    /// Guix and Nix < 1.30 name a derivation to build by its plain `.drv` path.
    func targets(_ paths: [DerivedPath]) -> [BuilderTarget] {
        paths.map { item in
            switch item {
            case .opaque(let p): p.isDerivation ? .derivation(p, outputs: nil) : .path(p)
            case .built(let drv, .all): .derivation(drv, outputs: nil)
            case .built(let drv, .names(let names)): .derivation(drv, outputs: Set(names))
            }
        }
    }

    /// Runs one request's builds, streaming events to the client.
    func runBuilds(_ targets: [BuilderTarget], mode: UInt64, log: ActivityLog, nix: NixBuildProgress? = nil) -> [BuilderResult] {
        let builder = DerivationBuilder(store: store, settings: buildSettings)
        let relay = EventRelay(log: log, multiplexed: multiplexedBuildOutput, nix: nix, cancel: { builder.cancel() })
        return builder.build(targets, mode: BuilderMode(rawValue: mode) ?? .normal) { relay.send($0) }
    }

    /// `runBuilds` inside Nix's worker frame (Nix clients; `NixBuildProgress.swift`).
    func runBuildsReporting(_ targets: [BuilderTarget], mode: UInt64, log: ActivityLog) throws -> [BuilderResult] {
        var results: [BuilderResult] = []
        let derivations = targets.compactMap { target -> String? in
            if case .derivation(let drv, _) = target { return context.render(drv) } else { return nil }
        }
        _ = try withNixBuildFrame(derivations: derivations) { frame in
            results = runBuilds(targets, mode: mode, log: log, nix: frame)
            return zip(targets, results).map { target, result in
                if case .derivation = target { return BuilderResultSummary(isDerivationGoal: true, alreadyValid: result.status == .alreadyValid) }
                return BuilderResultSummary(isDerivationGoal: false, alreadyValid: false)
            }
        }
        return results
    }

    public func buildPaths(_ paths: [DerivedPath], mode: UInt64, log: ActivityLog) throws {
        let targets = targets(paths)
        let results = try runBuildsReporting(targets, mode: mode, log: log)
        if let failure = DerivationBuilder.failureMessage(targets: targets, results: results, store: store.storeDirectory) {
            throw StoreServiceError(failure.message, status: UInt64(failure.status))
        }
    }

    public func buildPathsWithResults(_ paths: [DerivedPath], mode: UInt64, log: ActivityLog) throws -> [(DerivedPath, BuildResult)] {
        let results = try runBuildsReporting(targets(paths), mode: mode, log: log)
        return zip(paths, results).map { path, result in
            var wire = Self.wire(result)
            if case .built(let drv, _) = path { wire.builtOutputs = realisations(drv, result.builtOutputs) }
            return (path, wire)
        }
    }

    public func ensurePath(_ path: StorePath, log: ActivityLog) throws {
        let results = runBuilds([.path(path)], mode: 0, log: log)
        if let result = results.first, !result.isSuccess { throw StoreServiceError(result.errorMessage) }
    }

    public func buildDerivation(_ drvPath: StorePath, _ derivation: WireDerivation, mode: UInt64, log: ActivityLog) throws -> BuildResult {
        let resolved = try derivation.derivation(context)
        let builder = DerivationBuilder(store: store, settings: buildSettings)
        var result: BuilderResult?
        _ = try withNixBuildFrame(derivations: [context.render(drvPath)]) { frame in
            let relay = EventRelay(log: log, multiplexed: multiplexedBuildOutput, nix: frame, cancel: { builder.cancel() })
            let r = builder.buildDerivation(drvPath, resolved, mode: BuilderMode(rawValue: mode) ?? .normal) { relay.send($0) }
            result = r
            return [BuilderResultSummary(isDerivationGoal: true, alreadyValid: r.status == .alreadyValid)]
        }
        guard let result else { throw StoreServiceError("the build did not run") }
        var wire = Self.wire(result)
        wire.builtOutputs = realisations(drvPath, result.builtOutputs)
        return wire
    }

    /// Every derivation of the closure that would be built, and what can be neither built nor
    /// substituted (there are no substituters).
    public func queryMissing(_ paths: [DerivedPath]) throws -> MissingPaths {
        let builder = DerivationBuilder(store: store, settings: buildSettings)
        let found = try builder.queryMissing(targets(paths))
        var missing = MissingPaths()
        missing.willBuild = found.willBuild.sorted()
        missing.unknown = found.unknown.sorted()
        return missing
    }

    /// The builder's result in the wire's shape (times and status numbers are Nix's).
    static func wire(_ r: BuilderResult) -> BuildResult {
        var w = BuildResult(status: BuildResult.Status(rawValue: r.status.rawValue) ?? .miscFailure, errorMessage: r.errorMessage)
        w.timesBuilt = UInt64(max(r.timesBuilt, 0))
        w.isNonDeterministic = r.isNonDeterministic
        w.startTime = UInt64(max(r.startTime, 0))
        w.stopTime = UInt64(max(r.stopTime, 0))
        return w
    }
}

/// Forwards build events (serialised by the Builder) to the client; the first failed write
/// means the client is gone, so the request's builds are cancelled and nothing more is sent.
/// Messages go out at guix-daemon's levels (build.cc): `building path(s)` is lvlInfo, traces
/// and notes lvlError.
final class EventRelay: @unchecked Sendable {
    let log: ActivityLog
    let multiplexed: Bool
    let cancel: () -> Void
    private var broken = false

    /// Nix clients: builds become activities, builder output their log-line results.
    let nix: NixBuildProgress?

    init(log: ActivityLog, multiplexed: Bool = false, nix: NixBuildProgress? = nil, cancel: @escaping () -> Void) {
        self.log = log
        self.multiplexed = multiplexed
        self.nix = nix
        self.cancel = cancel
    }

    func send(_ event: BuilderEvent) {
        guard !broken else { return }
        do {
            if let nix {
                switch event {
                case .started(let drv): try nix.buildStarted(drv)
                case .finished(let drv, let succeeded): try nix.buildFinished(drv, succeeded: succeeded)
                case .output(let drv, _, let bytes): try nix.output(drv, bytes)
                // guix-daemon's announcement; Nix's is the build activity.
                case .building: break
                case .message(let line): try log.log(.error, line)
                }
                return
            }
            switch event {
            case .started, .finished: break
            case .output(_, let pid, let bytes) where multiplexed:
                // build.cc handleChildOutput: prefix and chunk in one STDERR_NEXT.
                try log.builderOutput(Array("@ build-log \(pid) \(bytes.count)\n".utf8) + bytes)
            case .output(_, _, let bytes): try log.builderOutput(bytes)
            case .building(let line): try log.log(.info, line)
            case .message(let line): try log.log(.error, line)
            }
        } catch {
            broken = true
            cancel()
        }
    }
}
