/// Output paths and the `.drv` path of a derivation (formats.md §4.6), and the check a daemon
/// makes when a `.drv` is added: every output path and output env variable must be the one
/// recomputed from the derivation itself.
extension Derivation {
    /// The derivation's name as it appears in its `.drv` path (`hello-2.12` for
    /// `…-hello-2.12.drv`).
    public static func name(of drvPath: StorePath) throws(FormatError) -> String {
        guard drvPath.isDerivation, drvPath.name.utf8.count > 4 else {
            throw .invalidStorePath(drvPath.baseName, reason: "not a derivation (no .drv suffix)")
        }
        return String(drvPath.name.dropLast(4))
    }

    /// The store path of this derivation's `.drv` file: a text object named `<name>.drv` that
    /// references every input derivation and input source (§2.3).
    public func path(name: String, in store: StoreDirectory, rules: StorePathName.Rules = .nix) throws(FormatError) -> StorePath {
        let references = Array(inputDerivations.keys) + Array(inputSources)
        return try store.makeTextPath(name: name + ".drv", contents: render(in: store), references: references, rules: rules)
    }

    /// The paths the outputs must have, recomputed: fixed outputs from their content hash,
    /// input-addressed ones from the masked hashDerivationModulo. Floating, deferred and
    /// impure outputs have none and are left out.
    public func computedOutputPaths(name: String, hasher: inout DerivationHasher, rules: StorePathName.Rules = .nix) throws(FormatError) -> [String: StorePath] {
        var paths: [String: StorePath] = [:]
        var masked: Hash? = nil
        for (outputName, output) in outputs {
            switch output {
            case .fixed(_, let method, let hash):
                paths[outputName] = try hasher.store.makeFixedOutputPath(method: method, hash: hash, name: name, rules: rules)
            case .inputAddressed:
                let h: Hash
                if let masked { h = masked } else {
                    h = try hasher.hashModulo(self, maskOutputs: true)
                    masked = h
                }
                paths[outputName] = try hasher.store.makeOutputPath(outputName: outputName, hashModulo: h, derivationName: name, rules: rules)
            case .floating, .deferred, .impure:
                continue
            }
        }
        return paths
    }

    /// What a daemon checks before accepting a `.drv` (Nix 2.8 `checkDerivationOutputs`,
    /// Guix's equivalent): each output path is the recomputed one and `env[output]` holds it.
    /// Experimental output kinds are refused.
    public func checkOutputs(name: String, hasher: inout DerivationHasher, rules: StorePathName.Rules = .nix) throws(FormatError) {
        if let (outputName, output) = unsupportedOutputKind {
            throw .invalidDerivationOutput(outputName, reason: "\(output.kindName) outputs are not supported")
        }
        let expected = try computedOutputPaths(name: name, hasher: &hasher, rules: rules)
        for outputName in sortedOutputNames {
            guard let actual = outputs[outputName]?.path, let wanted = expected[outputName] else { continue }
            let wantedText = wanted.absolute(in: hasher.store)
            guard actual == wanted else {
                throw .invalidDerivationOutput(outputName, reason: "path is \(actual.absolute(in: hasher.store)), should be \(wantedText)")
            }
            guard let value = self[env: outputName], value == Array(wantedText.utf8) else {
                throw .invalidDerivationOutput(outputName, reason: "environment variable '\(outputName)' does not hold \(wantedText)")
            }
        }
    }

    /// Fills in output paths and output env variables the way `builtins.derivation` and Guix's
    /// `derivation` do: blank them, hash the masked derivation, write the results. Fixed
    /// outputs get their content-addressed path. Other kinds are left alone.
    public mutating func fillInOutputPaths(name: String, hasher: inout DerivationHasher, rules: StorePathName.Rules = .nix) throws(FormatError) {
        if let fixed = fixedOutput {
            let path = try hasher.store.makeFixedOutputPath(method: fixed.method, hash: fixed.hash, name: name, rules: rules)
            outputs["out"] = .fixed(path, method: fixed.method, hash: fixed.hash)
            env[Array("out".utf8)] = Array(path.absolute(in: hasher.store).utf8)
            return
        }
        for (outputName, output) in outputs {
            if case .inputAddressed = output { env[Array(outputName.utf8)] = [] }
        }
        let h = try hasher.hashModulo(self, maskOutputs: true)
        for (outputName, output) in outputs {
            guard case .inputAddressed = output else { continue }
            let path = try hasher.store.makeOutputPath(outputName: outputName, hashModulo: h, derivationName: name, rules: rules)
            outputs[outputName] = .inputAddressed(path)
            env[Array(outputName.utf8)] = Array(path.absolute(in: hasher.store).utf8)
        }
    }

    /// The DrvOutput id of each output (§4.7).
    public func drvOutputs(hasher: inout DerivationHasher) throws(FormatError) -> [DrvOutput] {
        let h = try hasher.hashModulo(self, maskOutputs: true)
        return sortedOutputNames.map { DrvOutput(hash: h, outputName: $0) }
    }
}

extension DerivationOutput {
    /// The kind's name in messages.
    public var kindName: String {
        switch self {
        case .inputAddressed: "input-addressed"
        case .fixed: "fixed-output"
        case .floating: "floating content-addressed"
        case .deferred: "deferred"
        case .impure: "impure"
        }
    }
}
