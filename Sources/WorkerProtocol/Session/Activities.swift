/// One session's log: everything the daemon tells a client on the stderr channel before
/// `STDERR_LAST` goes through here. Messages carry a level and are sent only within the
/// verbosity the client set (Nix 2.8 daemon.cc TunnelLogger::log; guix-daemon's printMsg
/// against the `verbosity` its SetOptions sets) — this is the one filter, so services state
/// levels and never decide themselves whether a line goes out.
///
/// Nix's structured log (formats.md §6.3): activities that start, report results and stop, for
/// clients of minor >= 20, whatever their verbosity. Ids are Nix's: the daemon process's pid in
/// the high 32 bits and a counter from 0 in the low 32 (libutil logging.cc; one nix-daemon
/// process serves one connection, so the counter is per session). Guix and older Nix clients
/// never see activities (`StderrMessage.encode` drops them), so services may start them
/// unconditionally. A Nix client below minor 20 gets an activity's text as a message
/// `<text>...` at the activity's level instead, if the text is not empty (TunnelLogger::
/// startActivity); its stops and results are dropped.

/// Message levels, named and numbered as Nix 2.8 has them (lvlError … lvlVomit). guix-daemon
/// has no warn or notice level and numbers the rest 0–5 (libutil/types.hh); a client's
/// verbosity is a number in its own daemon's scale, so levels are compared through `number(in:)`.
public enum Verbosity: UInt64, Sendable {
    case error = 0, warn, notice, info, talkative, chatty, debug, vomit

    public func number(in dialect: Dialect) -> UInt64 {
        guard dialect == .guix else { return rawValue }
        switch self {
        case .error, .warn: return 0
        case .notice, .info: return 1
        case .talkative: return 2
        case .chatty: return 3
        case .debug: return 4
        case .vomit: return 5
        }
    }
}

public enum ActivityType: UInt64, Sendable {
    case unknown = 0, copyPath = 100, fileTransfer, realise, copyPaths, builds, build, optimiseStore,
         verifyPaths, substitute, queryPathInfo, postBuildHook, buildWaiting
}

public enum ResultType: UInt64, Sendable {
    case fileLinked = 100, buildLogLine, untrustedPath, corruptedPath, setPhase, progress, setExpected, postBuildLogLine
}

/// One session's log: messages within the client's verbosity, activities with their ids.
public final class ActivityLog {
    public let dialect: Dialect
    /// Whether the client receives activities (Nix >= 20).
    public let receivesActivities: Bool
    private let idBase: UInt64
    private var counter: UInt64 = 0
    private let sink: LogSink
    /// The client's SetOptions verbosity, a raw word in its dialect's scale (both daemons
    /// compare it as a number); until then the daemons' default, info.
    public private(set) var verbosity: UInt64
    /// Guix: builder output reaches the client only while `verbosity >= buildVerbosity`
    /// (build.cc handleChildOutput); guix-daemon's default is lvlError.
    public private(set) var buildVerbosity: UInt64 = 0

    public init(dialect: Dialect, receivesActivities: Bool, idBase: UInt64, sink: @escaping LogSink) {
        self.dialect = dialect
        self.receivesActivities = receivesActivities
        self.idBase = idBase
        self.sink = sink
        self.verbosity = Verbosity.info.number(in: dialect)
    }

    /// The client's SetOptions: both daemons take its verbosity whether trusted or not.
    public func apply(_ options: ClientOptions) {
        verbosity = options.verbosity
        if dialect == .guix { buildVerbosity = options.buildVerbosity }
    }

    /// Whether a message at `level` reaches this client. Callers ask before they gather what a
    /// per-item line needs (a walk, a list of what was checked); `log` asks it again itself.
    public func includes(_ level: Verbosity) -> Bool { level.number(in: dialect) <= verbosity }

    /// A message at `level` as a line (STDERR_NEXT, newline added), if within the verbosity.
    /// The text is an autoclosure: a line the client's verbosity excludes is never formatted.
    public func log(_ level: Verbosity, _ text: @autoclosure () -> String) throws(WorkerProtocolError) {
        guard includes(level) else { return }
        try sink(.next(Array((text() + "\n").utf8)))
    }

    /// A chunk of builder output as it came (guix-daemon's way; Nix clients get build output
    /// as activity results). Not a message, so not levelled: Guix's `buildVerbosity` rule.
    public func builderOutput(_ bytes: [UInt8]) throws(WorkerProtocolError) {
        if dialect == .guix && verbosity < buildVerbosity { return }
        try sink(.next(bytes))
    }

    /// Starts an activity and returns its id.
    public func start(_ type: ActivityType, level: Verbosity = .error, text: String = "", fields: [LogField] = [],
                      parent: UInt64 = 0) throws(WorkerProtocolError) -> UInt64 {
        let id = idBase | (counter & 0xffff_ffff)
        counter += 1
        guard receivesActivities else {
            if dialect == .nix && !text.isEmpty { try log(level, text + "...") }
            return id
        }
        try sink(.startActivity(id: id, level: level.rawValue, type: type.rawValue, text: text, fields: fields, parent: parent))
        return id
    }

    public func stop(_ id: UInt64) throws(WorkerProtocolError) { try sink(.stopActivity(id: id)) }

    public func result(_ id: UInt64, _ type: ResultType, _ fields: [LogField]) throws(WorkerProtocolError) {
        try sink(.result(id: id, type: type.rawValue, fields: fields))
    }

    /// `resProgress`: done, expected, running, failed.
    public func progress(_ id: UInt64, done: UInt64, expected: UInt64, running: UInt64 = 0, failed: UInt64 = 0) throws(WorkerProtocolError) {
        try result(id, .progress, [.int(done), .int(expected), .int(running), .int(failed)])
    }

    /// `resSetExpected`: how many of an activity type's units to expect.
    public func setExpected(_ id: UInt64, _ type: ActivityType, _ count: UInt64) throws(WorkerProtocolError) {
        try result(id, .setExpected, [.int(type.rawValue), .int(count)])
    }

    /// Runs `body` inside an activity (stopped however `body` ends, as Nix's RAII activities are).
    public func within<T>(_ type: ActivityType, level: Verbosity = .error, text: String = "",
                          _ body: (UInt64) throws -> T) throws -> T {
        let id = try start(type, level: level, text: text)
        do {
            let value = try body(id)
            try stop(id)
            return value
        } catch {
            try? stop(id)
            throw error
        }
    }
}

/// What an `ActivityLog` writes to (the session's stderr channel).
public typealias LogSink = (StderrMessage) throws(WorkerProtocolError) -> Void
