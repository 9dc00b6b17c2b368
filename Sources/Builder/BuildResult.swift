/// What became of one requested derivation or path: Nix's BuildResult (formats.md §6.5) without
/// the wire, plus the text Guix prints. The Daemon maps it onto WorkerProtocol's record.
import StoreFormats

public struct BuildResult: Hashable, Sendable {
    /// Nix's `BuildResult::Status`, with its wire numbers.
    public enum Status: UInt64, Hashable, Sendable {
        case built = 0
        case substituted = 1
        case alreadyValid = 2
        case permanentFailure = 3
        case inputRejected = 4
        case outputRejected = 5
        case transientFailure = 6
        case cachedFailure = 7
        case timedOut = 8
        case miscFailure = 9
        case dependencyFailed = 10
        case logLimitExceeded = 11
        case notDeterministic = 12

        public var isSuccess: Bool { self == .built || self == .substituted || self == .alreadyValid }
    }

    public var status: Status
    /// Guix's message for a failure (empty on success).
    public var errorMessage: String
    public var timesBuilt: Int
    public var isNonDeterministic: Bool
    /// Seconds since the epoch; 0 when nothing ran.
    public var startTime: Int64
    public var stopTime: Int64
    /// Output name → path, for the outputs that are now valid.
    public var builtOutputs: [String: StorePath]

    public init(status: Status, errorMessage: String = "", timesBuilt: Int = 0, isNonDeterministic: Bool = false,
                startTime: Int64 = 0, stopTime: Int64 = 0, builtOutputs: [String: StorePath] = [:]) {
        self.status = status
        self.errorMessage = errorMessage
        self.timesBuilt = timesBuilt
        self.isNonDeterministic = isNonDeterministic
        self.startTime = startTime
        self.stopTime = stopTime
        self.builtOutputs = builtOutputs
    }

    public var isSuccess: Bool { status.isSuccess }
}

/// What the client asked for: a derivation's outputs (`drv!out,dev`, or all with nil) or a plain
/// store path that must become valid (EnsurePath / an opaque DerivedPath).
public enum BuildTarget: Hashable, Sendable {
    case derivation(StorePath, outputs: Set<String>? = nil)
    case path(StorePath)
}

/// The worker's exit status for a failed request (build.cc:Worker::exitStatus): 101 if any build
/// timed out, 100 if any failed permanently or was a cached failure, else 1.
public func workerExitStatus(_ results: [BuildResult]) -> Int32 {
    let failures = results.filter { !$0.isSuccess }
    if failures.isEmpty { return 0 }
    if failures.contains(where: { $0.status == .timedOut || $0.status == .logLimitExceeded }) { return 101 }
    if failures.contains(where: { $0.status == .permanentFailure || $0.status == .cachedFailure || $0.status == .outputRejected }) { return 100 }
    return 1
}
