/// A "basic" (resolved) derivation: one without input derivations, as `BuildDerivation`
/// (op 36, formats.md §6.6) carries it. The wire codec lives in WorkerProtocol
/// (`WireDerivation`); this is the validating step between its plain strings and a
/// `Derivation`, by the same rules as the ATerm parser: output fields read as in §4.1, a fixed
/// output alone and named `out`, input sources store paths, no duplicate output names,
/// sources or env keys, a platform that needs no escaping. Order is not required: readers
/// must not depend on it (§1.2).
extension Derivation {
    /// The strings of one output tuple, as on the wire and in the ATerm.
    public typealias OutputFields = (name: String, path: String, hashAlgo: String, hash: String)

    public init(
        basicOutputs: [OutputFields], inputSources: [StorePath], platform: String, builder: [UInt8],
        args: [[UInt8]], env: [([UInt8], [UInt8])], store: StoreDirectory, rules: StorePathName.Rules = .nix
    ) throws(FormatError) {
        var outputs: [String: DerivationOutput] = [:]
        for fields in basicOutputs {
            guard !fields.name.isEmpty, fields.name.utf8.allSatisfy(StorePathName.isValidCharacter) else {
                throw .invalidDerivationOutput(fields.name, reason: "not a valid output name")
            }
            guard outputs[fields.name] == nil else { throw .invalidDerivationOutput(fields.name, reason: "duplicate output") }
            do throws(OutputFieldError) {
                outputs[fields.name] = try DerivationOutput.fromFields(
                    path: Array(fields.path.utf8), hashAlgo: Array(fields.hashAlgo.utf8), hash: Array(fields.hash.utf8),
                    store: store, rules: rules)
            } catch {
                throw .invalidDerivationOutput(fields.name, reason: error.reason)
            }
        }
        guard !outputs.isEmpty else { throw .invalidDerivationField("outputs", reason: "a derivation needs at least one output") }
        for (name, output) in outputs {
            guard case .fixed = output else { continue }
            guard outputs.count == 1, name == "out" else {
                throw .invalidDerivationOutput(name, reason: "a fixed-output derivation has exactly one output, named 'out'")
            }
        }
        let sources = Set(inputSources)
        guard sources.count == inputSources.count else { throw .invalidDerivationField("inputSrcs", reason: "duplicate input source") }
        guard !platform.utf8.contains(where: { [0x22, 0x5C, 0x0A, 0x0D, 0x09].contains($0) }) else {
            throw .invalidDerivationField("platform", reason: "holds a character that needs escaping")
        }
        var environment: [[UInt8]: [UInt8]] = [:]
        for (key, value) in env {
            guard environment.updateValue(value, forKey: key) == nil else {
                throw .invalidDerivationField("env", reason: "duplicate key '\(String(decoding: key, as: UTF8.self))'")
            }
        }
        self.init(outputs: outputs, inputSources: sources, platform: platform, builder: builder, args: args, env: environment)
    }

    /// The output tuples' strings in output-name order (input derivations are not part of a
    /// basic derivation and are left out by callers that send one).
    public func outputFields(in store: StoreDirectory) -> [OutputFields] {
        sortedOutputNames.compactMap { name in
            outputs[name].map { (name, $0.path?.absolute(in: store) ?? "", $0.hashAlgoField, $0.hashField) }
        }
    }
}
