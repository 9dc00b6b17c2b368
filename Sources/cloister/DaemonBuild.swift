import Glibc
import StoreFormats
import WorkerProtocol

/// `cloister build` through the daemon: the options go out as SetOptions (`-K`, `-k`,
/// `--max-jobs`, `--max-silent-time`, `--cores` in their integer slots, `--timeout` as the
/// `build-timeout` setting, `--rounds=N` as `build-repeat` N-1, build traces and multiplexed
/// build output on), .drv files outside the store are added with AddTextToStore, QueryMissing
/// says what will be built, BuildPathsWithResults builds while the stderr channel feeds
/// `BuildProgress` (through `BuildLogDemultiplexer`), and QueryDerivationOutputMap gives the
/// paths to print. Exit status as guix-daemon's worker: 101 timeouts, 100 build failures, else 1.
enum DaemonBuild {
    static func run(_ request: BuildCommand.Request) throws -> Int32 {
        let connection = try DaemonConnection.open(options: options(request))
        let client = connection.client
        var derivations: [StorePath] = []
        for file in request.files { derivations.append(try addDerivation(file, connection)) }
        let targets = derivations.map { DerivedPath.built(derivation: $0, outputs: .all) }

        let (willBuild, unknown) = try queryMissing(targets, client)
        if let first = unknown.first {
            throw UsageError("\(first): not valid and cannot be built here; add it with 'cloister add' first")
        }
        if request.verbosity >= 1 {
            if willBuild.isEmpty && request.mode != .check {
                writeStandardError("nothing to build: the outputs are valid already\n")
            } else if !willBuild.isEmpty {
                announce(willBuild)
            }
        }

        let progress = BuildProgress(total: request.mode == .check ? derivations.count : willBuild.count, verbosity: request.verbosity)
        let demultiplexer = BuildLogDemultiplexer(progress: progress, debug: request.debug)
        client.onLog = { message in demultiplexer.receive(message) }
        let outcome = build(targets, mode: request.mode.rawValue, client)
        progress.finish()
        let results: [WorkerReply.KeyedBuildResult]
        switch outcome {
        case .success(let list): results = list
        case .failure(.remote(let message, let status)):
            writeStandardError("cloister: build: \(message)\n")
            return status == 0 ? 1 : Int32(truncatingIfNeeded: status)
        case .failure(let error): throw UsageError("\(error)")
        }

        var failures: [(String, BuildResult)] = []
        for (drv, keyed) in zip(derivations, results) {
            guard isSuccess(keyed.result.status) else {
                failures.append((connection.render(drv), keyed.result))
                continue
            }
            guard case .pairs(let outputs) = try client.call(.queryDerivationOutputMap(drv)) else { continue }
            for output in outputs.sorted(by: { $0.key < $1.key }) where !output.value.isEmpty { print(output.value) }
        }
        guard !failures.isEmpty else { return 0 }
        if failures.count == 1, let only = failures.first, !only.1.errorMessage.isEmpty {
            writeStandardError("cloister: build: \(only.1.errorMessage)\n")
        } else {
            writeStandardError("cloister: build: build of \(failures.map { "`\($0.0)'" }.joined(separator: ", ")) failed\n")
        }
        return exitStatus(failures.map { $0.1.status })
    }

    static func queryMissing(_ targets: [DerivedPath], _ client: WorkerClient) throws -> (willBuild: [String], unknown: [String]) {
        let reply = try client.call(.queryMissing(targets))
        guard case .missing(let willBuild, _, let unknown, _, _) = reply else {
            throw UsageError("the daemon gave an unexpected reply to QueryMissing")
        }
        return (willBuild, unknown)
    }

    static func build(_ targets: [DerivedPath], mode: UInt64, _ client: WorkerClient) -> Result<[WorkerReply.KeyedBuildResult], WorkerProtocolError> {
        do {
            let reply = try client.call(.buildPathsWithResults(targets, mode: mode))
            guard case .buildResults(let results) = reply else {
                return .failure(.invalidValue(field: "reply", text: "BuildPathsWithResults", reason: "unexpected reply shape"))
            }
            return .success(results)
        } catch {
            return .failure(error)
        }
    }

    static func announce(_ willBuild: [String]) {
        writeStandardError("The following derivation\(willBuild.count == 1 ? "" : "s") will be built:\n")
        for drv in willBuild.sorted() { writeStandardError("   \(drv)\n") }
    }

    /// SetOptions in the Nix 1.34 layout (formats.md §6.7).
    static func options(_ r: BuildCommand.Request) -> ClientOptions {
        var o = DaemonConnection.defaultOptions(verbosity: r.debug ? 5 : 0)
        o.integers[0] = r.settings.keepFailed ? 1 : 0
        o.integers[1] = r.settings.keepGoing ? 1 : 0
        o.integers[4] = UInt64(r.settings.maxBuildJobs)
        o.integers[5] = UInt64(r.settings.maxSilentTime)
        o.integers[10] = UInt64(r.settings.buildCores)
        if r.timeoutGiven { o.overrides.append(ClientOptions.Setting("build-timeout", String(r.settings.buildTimeout))) }
        if r.settings.buildRepeat > 0 { o.overrides.append(ClientOptions.Setting("build-repeat", String(r.settings.buildRepeat))) }
        // Builder output tagged with its builder's pid, so the status line names the right build.
        o.overrides.append(ClientOptions.Setting("multiplexed-build-output", "true"))
        return o
    }

    /// A valid .drv in the store, or a .drv file added with AddTextToStore (its inputs as
    /// references, as `guix build` adds derivations).
    static func addDerivation(_ text: String, _ connection: DaemonConnection) throws -> StorePath {
        if let path = try? connection.storePath(text), path.isDerivation {
            if try connection.client.isValidPath(path) { return path }
            if connection.storeDirectory.contains(text) {
                throw UsageError("\(text): not a valid derivation in the store; add it (give its .drv file, or write it with 'cloister derivation new')")
            }
        }
        let name = try BuildCommand.derivationName(text)
        let bytes = try BuildCommand.readFile(text)
        let derivation: Derivation
        do { derivation = try Derivation(aterm: bytes, store: connection.storeDirectory, rules: .nix) } catch {
            throw UsageError("\(text): not a derivation for the store \(connection.storeDirectory.path): \(error)")
        }
        let references = Set(derivation.inputDerivations.keys).union(derivation.inputSources)
        // Input derivations not in the store yet are looked for beside the file, as
        // `<hash>-NAME.drv` or `NAME.drv`, and added first.
        let folder = text.lastIndex(of: "/").map { String(text[..<$0]) } ?? "."
        for input in derivation.inputDerivations.keys.sorted() {
            if try connection.client.isValidPath(input) { continue }
            guard let file = [input.baseName, input.name].map({ folder + "/" + $0 }).first(where: { access($0, R_OK) == 0 }) else {
                throw UsageError("\(text): its input \(connection.render(input)) is not in the store nor beside it; build or add it first")
            }
            let added = try addDerivation(file, connection)
            guard added == input else {
                throw UsageError("\(file): is \(connection.render(added)), not the input \(connection.render(input)) that \(text) names")
            }
        }
        let added: StorePath
        do { added = try connection.client.addTextToStore(name: name, text: bytes, references: Array(references)) } catch {
            throw UsageError("\(text): \(error)")
        }
        return added
    }

    /// Built, substituted, already valid, resolves to already valid.
    static func isSuccess(_ status: UInt64) -> Bool { [0, 1, 2, 13].contains(status) }

    /// build.cc Worker::exitStatus over the failed statuses.
    static func exitStatus(_ statuses: [UInt64]) -> Int32 {
        if statuses.contains(where: { $0 == 8 || $0 == 11 }) { return 101 }
        if statuses.contains(where: { $0 == 3 || $0 == 5 || $0 == 7 }) { return 100 }
        return 1
    }
}
