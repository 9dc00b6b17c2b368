/// Derivation + store + settings → `BuildPlan`. `plan(...)` is pure (the closure is passed in);
/// `inputClosure(...)` is the one step that reads the store: input sources plus the wanted
/// outputs of each input derivation, closed under references (guix-daemon.md §1.4).
import StoreFormats
import LocalStore
import Sandbox

public enum BuildPlanner {
    /// Checks and assembles the plan. Fails with Guix's messages for an unsupported platform,
    /// a builtin builder, an output kind we cannot build, or a builder outside the store (SEC-02;
    /// the Sandbox re-checks it with symlinks resolved).
    public static func plan(derivationPath: StorePath, derivation: Derivation, inputClosure: Set<StorePath>,
                            store: StoreDirectory, settings: BuildSettings) throws(BuildError) -> BuildPlan {
        let drvText = derivationPath.absolute(in: store)
        if let (name, output) = derivation.unsupportedOutputKind {
            throw .buildFailed("derivation `\(drvText)' has output `\(name)' of kind \(output.kindName), which is not supported")
        }
        let required = settings.systemFeatures == nil ? [] : requiredSystemFeatures(derivation)
        guard canBuildLocally(platform: derivation.platform, system: settings.system),
              settings.systemFeatures.map(required.isSubset) ?? true else {
            throw .buildFailed(unbuildableHere(derivation.platform, required, drvText, settings))
        }
        let builder = String(decoding: derivation.builder, as: UTF8.self)
        if builder.hasPrefix("builtin:") {
            throw .buildFailed("unsupported builtin function '\(builder.dropFirst(8))'")
        }
        let parts = builder.split(separator: "/", omittingEmptySubsequences: false)
        let extras = try extraDirectories(settings.extraChrootDirectories)
        // Or a file the administrator bound into every chroot (`--chroot-directory=/bin/sh=…`,
        // as Nix's sandbox-paths); the Sandbox checks it is a regular file.
        let administrators = settings.useChroot && extras.contains { $0.inside == builder }
        guard Array(builder.utf8) == derivation.builder, store.contains(builder) || administrators,
              !parts.contains(".."), !parts.contains(".") else {
            throw .buildFailed("derivation builder `\(builder)' is outside the store")
        }

        var outputs: [String: StorePath] = [:]
        for (name, output) in derivation.outputs {
            if let path = output.path { outputs[name] = path }
        }
        let fixedOutput = derivation.isFixedOutput
        var env: [[UInt8]: [UInt8]] = derivation.env
        if fixedOutput, let names = derivation[env: "impureEnvVars"] {
            for name in names.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) {
                let key = String(decoding: name, as: UTF8.self)
                env[Array(name)] = Array((settings.daemonEnvironment[key] ?? "").utf8)
            }
        }
        let pairs = env.keys.sorted { $0.lexicographicallyPrecedes($1) }.map { (name: $0, value: env[$0] ?? []) }
        let personality = ChrootEnvironment.personality(system: derivation.platform, hostSystem: settings.system,
                                                        impersonateLinux26: settings.impersonateLinux26)
        // An output never comes from outside, even if named as an input (Guix removes them).
        let outputSet = Set(outputs.values)
        return BuildPlan(derivationPath: derivationPath, derivation: derivation, storeDirectory: store,
                         inputClosure: inputClosure.subtracting(outputSet), outputs: outputs, builder: builder,
                         arguments: derivation.args, derivationEnvironment: pairs, fixedOutput: fixedOutput,
                         buildCores: settings.buildCores,
                         extraDirectories: extras,
                         personality: personality)
    }

    /// The derivation's `requiredSystemFeatures`, space-separated in its environment (Nix).
    static func requiredSystemFeatures(_ derivation: Derivation) -> Set<String> {
        guard let value = derivation[env: "requiredSystemFeatures"] else { return [] }
        return Set(String(decoding: value, as: UTF8.self).split(whereSeparator: { " \t\n\r".contains($0) }).map(String.init))
    }

    /// Why a derivation cannot be built here, in guix-daemon's words or Nix 2.8's (which name
    /// the features, sorted, the arguments coloured as its errors' are).
    static func unbuildableHere(_ platform: String, _ required: Set<String>, _ drv: String, _ settings: BuildSettings) -> String {
        let style = settings.messageStyle
        guard style == .nix else { return "a `\(platform)' is required to build `\(drv)', but I am a `\(settings.system)'" }
        func features(_ set: Set<String>) -> String { "{" + style.errorArgument(set.sorted().joined(separator: ", ")) + "}" }
        return "a \(style.quotedErrorArgument(platform)) with features \(features(required)) is required to build "
            + "\(style.quotedErrorArgument(drv)), but I am a \(style.quotedErrorArgument(settings.system)) with features "
            + features(settings.systemFeatures ?? [])
    }

    /// guix-daemon's canBuildLocally: our own system, i686 on x86_64, armhf on aarch64.
    public static func canBuildLocally(platform: String, system: String) -> Bool {
        platform == system || (platform == "i686-linux" && system == "x86_64-linux")
            || (platform == "armhf-linux" && system == "aarch64-linux")
    }

    /// `--chroot-directory` values: space-separated tokens, each `PATH` or `INSIDE=OUTSIDE`.
    public static func extraDirectories(_ values: [String]) throws(BuildError) -> [(inside: String, outside: String)] {
        var result: [(inside: String, outside: String)] = []
        for value in values {
            for token in value.split(separator: " ") where !token.isEmpty {
                let pair: (String, String)
                if let equals = token.firstIndex(of: "=") {
                    pair = (String(token[..<equals]), String(token[token.index(after: equals)...]))
                } else {
                    pair = (String(token), String(token))
                }
                guard pair.0.hasPrefix("/"), pair.1.hasPrefix("/") else {
                    throw .misc("invalid chroot directory `\(token)': paths must be absolute")
                }
                result.append((inside: pair.0, outside: pair.1))
            }
        }
        return result
    }

    /// The paths the build may see: each input source and the wanted outputs of each input
    /// derivation (from the database, or from the .drv file if it is not registered), closed
    /// under references. Every one must be valid.
    public static func inputClosure(of derivation: Derivation, store: LocalStore) throws(BuildError) -> Set<StorePath> {
        var roots = Set(derivation.inputSources)
        for (drvPath, wanted) in derivation.inputDerivations {
            let outputs = try derivationOutputs(drvPath, store: store)
            for name in wanted {
                guard let path = outputs[name] else {
                    throw .buildFailed("derivation `\(store.layout.absolute(drvPath))' has no output `\(name)'")
                }
                roots.insert(path)
            }
        }
        do { return try store.queryRequisites(roots) } catch { throw .store(error) }
    }

    /// Output name → path of a derivation in the store.
    public static func derivationOutputs(_ drvPath: StorePath, store: LocalStore) throws(BuildError) -> [String: StorePath] {
        var outputs: [String: StorePath] = [:]
        do {
            for (name, path) in try store.queryDerivationOutputs(drvPath) { outputs[name] = path }
        } catch { throw .store(error) }
        if !outputs.isEmpty { return outputs }
        let derivation = try DerivationFile.read(drvPath, store: store)
        for (name, output) in derivation.outputs { if let path = output.path { outputs[name] = path } }
        return outputs
    }
}
