import StoreFormats

/// The BasicDerivation sent with BuildDerivation (op 36; formats.md §6.6): u64 output count,
/// per output string name, string path, string hashAlgo, string hash (the ATerm tuple's
/// strings); list inputSrcs; string platform; string builder; list args; u64 env count, pairs.
/// No input derivations: the derivation is "resolved". Arguments and environment values are
/// bytes (they may hold anything a builder accepts).
public struct WireDerivation: Hashable, Sendable {
    public struct Output: Hashable, Sendable {
        public var name: String
        /// "" for outputs whose path is not known (floating CA).
        public var path: String
        public var hashAlgorithm: String
        public var hash: String
        public init(name: String, path: String, hashAlgorithm: String = "", hash: String = "") {
            self.name = name; self.path = path; self.hashAlgorithm = hashAlgorithm; self.hash = hash
        }
    }
    public var outputs: [Output]
    public var inputSources: [StorePath]
    public var platform: String
    public var builder: [UInt8]
    public var arguments: [[UInt8]]
    public var environment: [([UInt8], [UInt8])]

    public init(outputs: [Output], inputSources: [StorePath], platform: String, builder: [UInt8],
                arguments: [[UInt8]], environment: [([UInt8], [UInt8])]) {
        self.outputs = outputs; self.inputSources = inputSources; self.platform = platform
        self.builder = builder; self.arguments = arguments; self.environment = environment
    }

    public static func == (a: WireDerivation, b: WireDerivation) -> Bool {
        a.outputs == b.outputs && a.inputSources == b.inputSources && a.platform == b.platform
            && a.builder == b.builder && a.arguments == b.arguments
            && a.environment.map { $0.0 } == b.environment.map { $0.0 } && a.environment.map { $0.1 } == b.environment.map { $0.1 }
    }

    public func hash(into h: inout Swift.Hasher) { h.combine(outputs); h.combine(platform) }

    /// The fixed-output derivations are those whose every output has a hash (guix-daemon.md §1.9).
    public var isFixedOutput: Bool { !outputs.isEmpty && outputs.allSatisfy { !$0.hash.isEmpty } }

    public static func decode(from r: WireReader, _ context: StoreContext) throws(WorkerProtocolError) -> WireDerivation {
        let count = try r.readCount("derivation outputs", limit: r.limits.smallCount)
        var outputs: [Output] = []
        for _ in 0..<count {
            outputs.append(Output(name: try r.readShortString("output name"), path: try r.readShortString("output path"),
                                  hashAlgorithm: try r.readShortString("output hash algorithm"), hash: try r.readShortString("output hash")))
        }
        let inputs = try r.readStorePaths(context, "inputSrcs")
        let platform = try r.readShortString("platform")
        let builder = try r.readByteString("builder", limit: r.limits.shortString)
        let argCount = try r.readCount("args", limit: r.limits.smallCount)
        var args: [[UInt8]] = []
        for _ in 0..<argCount { args.append(try r.readByteString("arg", limit: r.limits.longString)) }
        let envCount = try r.readCount("env", limit: r.limits.smallCount)
        var env: [([UInt8], [UInt8])] = []
        for _ in 0..<envCount {
            env.append((try r.readByteString("env name", limit: r.limits.shortString), try r.readByteString("env value", limit: r.limits.longString)))
        }
        return WireDerivation(outputs: outputs, inputSources: inputs, platform: platform, builder: builder, arguments: args, environment: env)
    }

    public func encode(to w: WireWriter, _ context: StoreContext) throws(WorkerProtocolError) {
        try w.writeU64(UInt64(outputs.count))
        for o in outputs {
            try w.writeString(o.name); try w.writeString(o.path); try w.writeString(o.hashAlgorithm); try w.writeString(o.hash)
        }
        try w.writeStorePathSet(inputSources, context)
        try w.writeString(platform)
        try w.writeByteString(builder)
        try w.writeU64(UInt64(arguments.count))
        for a in arguments { try w.writeByteString(a) }
        try w.writeU64(UInt64(environment.count))
        for (k, v) in environment { try w.writeByteString(k); try w.writeByteString(v) }
    }
}
