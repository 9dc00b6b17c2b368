import Glibc
import Builder
import LinuxSystem
import LocalStore
import StoreFormats

/// `cloister build --local`: builds directly on the local store (run as the store's owner, as
/// `cloister gc`), in the same sandbox the daemon uses — the build-user pool with
/// `--build-users-group` (as root), a user namespace otherwise.
enum LocalBuild {
    static func run(_ request: BuildCommand.Request) throws -> Int32 {
        let store: LocalStore
        do { store = try LocalStore(configuration: StoreConfiguration(environment: GCCommand.environment())) } catch {
            throw UsageError("cannot open the store directly (\(error)), and no daemon answers at \(DaemonConnection.socketPath); \(DaemonConnection.startAdvice)")
        }
        let derivations = try request.files.map { try addDerivation($0, store) }
        let targets = derivations.map { BuildTarget.derivation($0) }

        let builder = Builder(store: store, settings: request.settings)
        let missing = try builder.queryMissing(targets)
        let storeDirectory = store.storeDirectory
        if !missing.willBuild.isEmpty && request.verbosity >= 1 {
            DaemonBuild.announce(missing.willBuild.sorted().map { $0.absolute(in: storeDirectory) })
        }
        let progress = BuildProgress(total: request.mode == .check ? derivations.count : missing.willBuild.count,
                                     verbosity: request.verbosity)
        let results = builder.build(targets, mode: request.mode) { event in
            switch event {
            case .output(let drv, _, let bytes): progress.output(bytes, derivation: drv)
            case .message(let line), .building(let line): progress.message(line)
            case .started, .finished: break
            }
        }
        Builder.waitForCleanup()
        progress.finish()

        for result in results where result.isSuccess {
            for path in result.builtOutputs.values.sorted() { print(path.absolute(in: storeDirectory)) }
        }
        if let failure = Builder.failureMessage(targets: targets, results: results, store: storeDirectory) {
            writeStandardError("cloister: build: \(failure.message)\n")
            return failure.status
        }
        return 0
    }

    /// A store path of a valid .drv, or a .drv file to add (its references are its inputs).
    static func addDerivation(_ text: String, _ store: LocalStore) throws -> StorePath {
        if let path = try? store.storeDirectory.storePath(containing: text, rules: .nix), path.isDerivation,
           try store.isValidPath(path) {
            return path
        }
        let name = try BuildCommand.derivationName(text)
        let bytes = try BuildCommand.readFile(text)
        let derivation = try Derivation(aterm: bytes, store: store.storeDirectory, rules: store.configuration.nameRules)
        return try store.addTextToStore(name: name, contents: bytes,
                                        references: Set(derivation.inputDerivations.keys).union(derivation.inputSources))
    }
}
