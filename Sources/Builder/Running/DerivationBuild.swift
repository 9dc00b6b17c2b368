/// Building one derivation, start to finish (guix-daemon.md §1, §2, §4): lock the outputs,
/// skip what is valid, refuse cached failures, take a build user (pool mode) or a user
/// namespace, make the build tree and chroot, spawn the sandbox, stream the log to the client
/// and the log file under the limits, then map the exit status to Guix's message or register
/// the outputs — all but the locks once per round with `--rounds` (§4.9). The chroot, and failed outputs with it, never outlive the build (SEC-13,
/// SEC-14: only missing outputs are ever touched, valid paths never are).
import StoreFormats
import LocalStore
import Sandbox
import LinuxSystem

struct DerivationBuild {
    let plan: BuildPlan
    let store: SharedStore
    let settings: BuildSettings
    let events: EventChannel
    let pool: BuildUserPool?
    /// Check mode (§4.9): rebuild valid outputs and compare, register nothing.
    let check: Bool
    let cancellation: Cancellation
    var timer = PhaseTimer()

    /// Set once the builder process runs (the `started` event went out).
    private let mark = StartMark()
    var drvText: String { plan.derivationPath.absolute(in: plan.storeDirectory) }
    var goalName: String { "building of `\(drvText)'" }

    func run() -> BuildResult {
        let start = WallClock.secondsSinceEpoch
        var result: BuildResult
        do {
            result = try build()
        } catch {
            result = BuildResult(status: status(of: error), errorMessage: error.description)
        }
        timer.mark("cleanup")
        if result.startTime == 0 { result.startTime = start }
        result.stopTime = WallClock.secondsSinceEpoch
        if mark.started { events.send(.finished(derivation: drvText, succeeded: result.status == .built)) }
        if settings.printBuildTrace {
            switch result.status {
            case .built: events.message("@ build-succeeded \(drvText) -")
            case .alreadyValid, .substituted: break
            case .timedOut: events.message("@ build-failed \(drvText) - timeout")
            case .cachedFailure: events.message("@ build-failed \(drvText) - cached")
            default: events.message("@ build-failed \(drvText) - 1 \(result.errorMessage)")
            }
        }
        return result
    }

    private func status(of error: BuildError) -> BuildResult.Status {
        switch error {
        case .outputRejected: return .outputRejected
        case .notDeterministic: return .notDeterministic
        case .hashMismatch, .buildFailed: return plan.fixedOutput ? .transientFailure : .permanentFailure
        default: return .miscFailure
        }
    }

    private func build() throws(BuildError) -> BuildResult {
        let outputPaths = plan.outputs.values.sorted()
        // Temp roots: no GC may take the outputs (or the .drv) between build and client roots.
        try store.query { (s) throws in for path in outputPaths + [plan.derivationPath] { try s.addTempRoot(path) } }
        let absolutes = outputPaths.map { $0.absolute(in: plan.storeDirectory) }
        // Output locks: a second build of the same derivation (any thread or process) waits
        // here, then finds the outputs valid.
        let held: PathLocks?
        do { held = try PathLocks.lock(absolutes, wait: true, spares: SpareInodes(directory: plan.storeDirectory.path)) } catch { throw .store(error) }
        guard let locks = held else { throw .misc("cannot lock the outputs of `\(drvText)'") }
        defer { locks.release() }
        timer.mark("lock")

        let valid = try store.query { try $0.queryValidPaths(outputPaths) }
        var missing: [String: StorePath] = [:]
        for (name, path) in plan.outputs where !valid.contains(path) { missing[name] = path }
        if check {
            guard settings.useChroot else { throw .buildFailed("`--check' needs the chroot (it is disabled)") }
            guard missing.isEmpty else {
                throw .buildFailed("`\(drvText)' is missing outputs; build it normally before using `--check'")
            }
            missing = plan.outputs
        } else if missing.isEmpty {
            locks.deleteOnRelease = true
            return BuildResult(status: .alreadyValid, builtOutputs: plan.outputs)
        }
        if settings.cacheFailures {
            for path in missing.values where try store.query({ try $0.hasFailedPath(path) }) {
                return BuildResult(status: .cachedFailure, errorMessage: "builder for `\(drvText)' failed previously (cached)")
            }
        }

        // --rounds (§4.9): the whole build N times, each round's outputs compared with the
        // previous round's (path, NAR hash, references); only the last one registers. Fixed
        // outputs and --check build once.
        let rounds = check || plan.fixedOutput ? 1 : max(1, settings.buildRepeat + 1)
        var previous: [ValidPathInfo]?
        var firstStart: Int64 = 0
        for round in 1...rounds {
            switch try buildRound(missing: missing, last: round == rounds, previous: previous,
                                  keep: round == 1 && rounds > 1 && settings.keepFailed) {
            case .failed(var result):
                result.timesBuilt = round
                return result
            case .built(let infos, let startTime):
                if round == 1 { firstStart = startTime }
                previous = infos
            }
        }
        timer.mark("register")
        if rounds > 1 && settings.keepFailed {
            // All rounds agreed: the first round's copies go (they stay when a round differs).
            for path in missing.values { try? removeFromStore(OutputRegistration.checkName(path)) }
        }
        locks.deleteOnRelease = true
        return BuildResult(status: .built, timesBuilt: rounds, startTime: firstStart, stopTime: WallClock.secondsSinceEpoch,
                           builtOutputs: plan.outputs)
    }

    private enum RoundOutcome {
        case failed(BuildResult)
        case built([ValidPathInfo], startTime: Int64)
    }

    /// Removes `name` (a `P-check` copy) from the store directory.
    private func removeFromStore(_ name: [UInt8]) throws {
        try FileDescriptor.open(plan.storeDirectory.path, [.readOnly, .directory]).removeTree(at: name)
    }

    /// One round: build user, tree, chroot, sandbox, log; then the outputs checked against the
    /// previous round and, in the last round, registered. `keep`: -K's copy at `P-check`.
    private func buildRound(missing: [String: StorePath], last: Bool, previous: [ValidPathInfo]?,
                            keep: Bool) throws(BuildError) -> RoundOutcome {
        timer.mark("valid")
        let buildUser = try pool.map { (pool) throws(BuildError) in try pool.acquire() }
        defer { buildUser?.release() }
        // Best effort: the build's own processes all live in its PID namespace and die with it;
        // this catches any left by an earlier holder of the uid. Some kernels (gVisor) report
        // kill(-1) successes forever, which must not make every build fail.
        try? buildUser?.killProcesses()

        let storeFD: FileDescriptor
        do {
            storeFD = try FileDescriptor.open(plan.storeDirectory.path, [.readOnly, .directory])
            // Invalid leftovers at an output path (a crashed build) go first; never a valid path.
            if !check {
                for path in missing.values { try storeFD.removeTree(at: Array(path.baseName.utf8)) }
            }
        } catch { throw .system(error) }

        timer.mark("user")
        let owner = buildUser.map { Ownership(uid: $0.uid, gid: $0.gid) }
        let buildDirectory: BuildDirectory
        do { buildDirectory = try BuildDirectory.make(temporaryDirectory: settings.temporaryDirectory,
                                                        derivationName: plan.derivationName, owner: owner) }
        catch { throw .sandbox(error) }
        var keepTree = false
        // Only a sandbox without network can be sure nothing outside holds an fd into its
        // directories (SpareDirectories).
        let recyclable = settings.useChroot && !plan.fixedOutput
        defer { if !keepTree { buildDirectory.dispose(recyclable: recyclable) } }

        timer.mark("tree")
        try ReferencesGraph.write(plan: plan, store: store, buildDirectory: buildDirectory, owner: owner)
        // --disable-chroot (§3.1): no chroot; the builder writes its outputs in the store itself.
        var chroot = settings.useChroot
            ? try ChrootDirectory.create(for: plan.derivationPath, storeFD: storeFD, storePath: plan.storeDirectory.path,
                                         groupID: buildUser?.gid)
            : nil
        defer { chroot?.remove(storeFD: storeFD, recyclable: recyclable) }
        do { try chroot?.makeMountPoints(for: plan.inputClosure, storeFD: storeFD) } catch { throw .system(error) }
        let outputsDirectory = chroot?.storePath ?? plan.storeDirectory.path
        timer.mark("chroot")

        let identity: SandboxIdentity
        if let buildUser {
            identity = .buildUser(uid: buildUser.uid, gid: buildUser.gid, supplementaryGroups: buildUser.supplementaryGroups)
        } else {
            identity = .userNamespace(insideUID: 30001, insideGID: 30000, hostUID: ProcessIdentity.userID, hostGID: ProcessIdentity.groupID)
        }
        let spec: SandboxSpec
        do {
            let guix = try plan.chrootEnvironment(chrootDirectory: chroot?.topPath ?? "/", buildDirectory: buildDirectory,
                                                  identity: identity, useChroot: chroot != nil).spec()
            spec = chroot?.adapt(guix, storeDirectory: plan.storeDirectory.path) ?? guix
        } catch {
            if case .invalidSpec(let reason) = error { throw .buildFailed(reason) }
            throw .sandbox(error)
        }

        timer.mark("spec")
        let logFile = settings.keepLog
            ? try BuildLogFile(logDirectory: store.layout.logDirectory, drvPath: plan.derivationPath, compression: settings.logCompression)
            : nil
        let startTime = WallClock.secondsSinceEpoch
        let paths = missing.values.sorted().map { "`\($0.absolute(in: plan.storeDirectory))'" }.joined(separator: ", ")
        events.building("building path(s) \(paths)")

        timer.mark("log")
        let process: SandboxProcess
        do { process = try Sandbox.spawn(spec) } catch {
            try? logFile?.close()
            if case .invalidSpec(let reason) = error { throw .buildFailed(reason) }
            if case .setupFailed = error { throw .buildFailed(error.description) }
            throw .sandbox(error)
        }
        guard cancellation.started(process) else {
            _ = try? process.waitForExit()
            try? logFile?.close()
            throw .misc("interrupted by the client")
        }
        defer { cancellation.finished(process) }
        timer.mark("spawn")
        mark.started = true
        events.send(.started(derivation: drvText))
        if settings.printBuildTrace {
            events.message("@ build-started \(drvText) - \(plan.derivation.platform) \(logFile?.path ?? "") \(process.pid)")
        }
        let limits = SandboxProcess.Limits(
            timeout: settings.buildTimeout > 0 ? .seconds(settings.buildTimeout) : nil,
            maxSilentTime: settings.maxSilentTime > 0 ? .seconds(settings.maxSilentTime) : nil,
            maxLogBytes: settings.maxLogSize > 0 ? settings.maxLogSize : nil)
        let drvText = self.drvText
        let events = self.events
        let outcome: SandboxProcess.Outcome
        do {
            outcome = try process.wait(limits: limits) { chunk in
                try? logFile?.write(chunk)
                events.send(.output(derivation: drvText, pid: process.pid, bytes: Array(chunk)))
            }
        } catch {
            try? logFile?.close()
            throw .sandbox(error)
        }
        // Its mounts go on the Janitor's thread, before the chroot and tree are recycled.
        if let namespace = process.mountNamespace {
            process.mountNamespace = nil
            Janitor.shared.release(namespace)
        }
        timer.mark("run")
        try? logFile?.close()
        timer.mark("logclose")
        if cancellation.isCancelled { throw .misc("interrupted by the client") }
        // Pool mode: SandboxProcess has killed every process of the build user by now.

        if let failure = failure(outcome) {
            if chroot == nil {
                // --disable-chroot: whatever the builder left at the output paths goes.
                for path in missing.values { try? storeFD.removeTree(at: Array(path.baseName.utf8)) }
            }
            if settings.cacheFailures && failure.status == .permanentFailure {
                for path in missing.values { _ = try? store.query { try $0.addFailedPath(path) } }
            }
            if settings.keepFailed {
                keepTree = true
                if let kept = try? KeptBuildTree.keep(buildDirectory, clientUID: settings.clientUID, clientGID: settings.clientGID) {
                    events.message("note: keeping build directory `\(kept)'")
                }
            }
            return .failed(BuildResult(status: failure.status, errorMessage: failure.message, timesBuilt: 1,
                                       startTime: startTime, stopTime: WallClock.secondsSinceEpoch))
        }

        let registration = OutputRegistration(plan: plan, store: store, buildUID: buildUser?.uid, deduplicate: settings.deduplicate,
                                              keepForComparison: settings.keepFailed)
        var infos: [ValidPathInfo] = []
        do {
            if check {
                try registration.compare(outputsDirectory: outputsDirectory)
            } else if last {
                infos = try registration.register(missing: missing, outputsDirectory: outputsDirectory, previousRound: previous)
            } else {
                infos = try registration.inspect(missing: missing, outputsDirectory: outputsDirectory, keep: keep)
                try registration.compareRound(infos, with: previous)
            }
        } catch {
            if case .hashMismatch(let path, let algorithm, let expected, let actual) = error, settings.printBuildTrace {
                events.message("@ hash-mismatch \(path) \(algorithm) \(expected) \(actual)")
            }
            if settings.keepFailed {
                keepTree = true
                if let kept = try? KeptBuildTree.keep(buildDirectory, clientUID: settings.clientUID, clientGID: settings.clientGID) {
                    events.message("note: keeping build directory `\(kept)'")
                }
            }
            throw error
        }
        return .built(infos, startTime: startTime)
    }

    /// §1.13 and §4.1: kills and non-zero exits, with Guix's messages.
    private func failure(_ outcome: SandboxProcess.Outcome) -> (status: BuildResult.Status, message: String)? {
        switch outcome.killed {
        case .timeout?:
            return (.timedOut, "\(goalName) timed out after \(settings.buildTimeout) seconds")
        case .silence?:
            return (.timedOut, "\(goalName) timed out after \(settings.maxSilentTime) seconds of silence")
        case .logLimit?:
            return (.logLimitExceeded, "\(goalName) killed after writing more than \(settings.maxLogSize) bytes of log output")
        case nil:
            break
        }
        let status: BuildResult.Status = plan.fixedOutput ? .transientFailure : .permanentFailure
        switch outcome.status {
        case .exited(let code) where code == 0:
            return nil
        case .exited(let code):
            return (status, "builder for `\(drvText)' failed with exit code \(code)")
        case .signaled:
            return (status, "builder for `\(drvText)' failed due to \(outcome.status)")
        }
    }
}

/// Whether a build got as far as running its builder.
final class StartMark: @unchecked Sendable {
    var started = false
}
