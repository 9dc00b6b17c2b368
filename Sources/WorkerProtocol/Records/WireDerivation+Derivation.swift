import StoreFormats

/// Between the BuildDerivation wire record and a validated `Derivation` (StoreFormats'
/// basic-derivation rules): the daemon builds from the latter only.
extension WireDerivation {
    /// The wire record of `derivation` without its input derivations, sets and maps in the
    /// byte order writers use.
    public init(_ derivation: Derivation, _ context: StoreContext) {
        let store = context.storeDirectory
        self.init(
            outputs: derivation.outputFields(in: store).map { Output(name: $0.name, path: $0.path, hashAlgorithm: $0.hashAlgo, hash: $0.hash) },
            inputSources: derivation.inputSources.sorted(),
            platform: derivation.platform,
            builder: derivation.builder,
            arguments: derivation.args,
            environment: derivation.env.keys.sorted { $0.lexicographicallyPrecedes($1) }.map { ($0, derivation.env[$0] ?? []) })
    }

    /// The validated derivation (no input derivations: a basic derivation is resolved).
    public func derivation(_ context: StoreContext) throws(WorkerProtocolError) -> Derivation {
        do {
            return try Derivation(
                basicOutputs: outputs.map { ($0.name, $0.path, $0.hashAlgorithm, $0.hash) },
                inputSources: inputSources, platform: platform, builder: builder, args: arguments,
                env: environment, store: context.storeDirectory, rules: context.rules)
        } catch {
            throw .format(error)
        }
    }
}
