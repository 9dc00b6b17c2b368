/// BuildResult (Nix; formats.md §6.5): u64 status, string errorMsg, (>= 29) u64 timesBuilt,
/// u64 isNonDeterministic, u64 startTime, u64 stopTime, (>= 28) map DrvOutput id ->
/// Realisation JSON. Status codes from Nix's buildresult.hh.
public struct BuildResult: Hashable, Sendable {
    public enum Status: UInt64, Sendable {
        case built = 0, substituted, alreadyValid, permanentFailure, inputRejected, outputRejected,
             transientFailure, cachedFailure, timedOut, miscFailure, dependencyFailed,
             logLimitExceeded, notDeterministic, resolvesToAlreadyValid, noSubstituters
    }

    public var status: UInt64
    public var errorMessage: String
    public var timesBuilt: UInt64 = 0
    public var isNonDeterministic: Bool = false
    public var startTime: UInt64 = 0
    public var stopTime: UInt64 = 0
    /// `sha256:<hex>!<output>` -> Realisation JSON, in wire order.
    public var builtOutputs: [(String, String)] = []

    public init(status: Status, errorMessage: String = "") {
        self.status = status.rawValue
        self.errorMessage = errorMessage
    }

    init(rawStatus: UInt64, errorMessage: String) {
        self.status = rawStatus
        self.errorMessage = errorMessage
    }

    public static func == (a: BuildResult, b: BuildResult) -> Bool {
        a.status == b.status && a.errorMessage == b.errorMessage && a.timesBuilt == b.timesBuilt
            && a.isNonDeterministic == b.isNonDeterministic && a.startTime == b.startTime && a.stopTime == b.stopTime
            && a.builtOutputs.map { $0.0 } == b.builtOutputs.map { $0.0 } && a.builtOutputs.map { $0.1 } == b.builtOutputs.map { $0.1 }
    }

    public func hash(into h: inout Swift.Hasher) {
        h.combine(status); h.combine(errorMessage); h.combine(startTime)
    }

    public static func decode(from r: WireReader, _ v: Negotiated) throws(WorkerProtocolError) -> BuildResult {
        var result = BuildResult(rawStatus: try r.readU64(), errorMessage: try r.readString("errorMsg", limit: r.limits.longString))
        if v.buildResultHasTimes {
            result.timesBuilt = try r.readU64()
            result.isNonDeterministic = try r.readBool("isNonDeterministic")
            result.startTime = try r.readU64()
            result.stopTime = try r.readU64()
        }
        if v.buildResultHasOutputs {
            result.builtOutputs = try r.readStringPairs("builtOutputs", countLimit: r.limits.smallCount)
        }
        return result
    }

    public func encode(to w: WireWriter, _ v: Negotiated) throws(WorkerProtocolError) {
        try w.writeU64(status)
        try w.writeString(errorMessage)
        if v.buildResultHasTimes {
            try w.writeU64(timesBuilt)
            try w.writeBool(isNonDeterministic)
            try w.writeU64(startTime)
            try w.writeU64(stopTime)
        }
        if v.buildResultHasOutputs { try w.writeStringPairs(builtOutputs) }
    }
}
