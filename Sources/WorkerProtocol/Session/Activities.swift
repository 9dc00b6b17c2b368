/// Nix's structured log on the stderr channel (formats.md §6.3): activities that start, report
/// results and stop, for clients of minor >= 20. Ids are Nix's: the daemon process's pid in the
/// high 32 bits and a counter from 0 in the low 32 (libutil logging.cc; one nix-daemon process
/// serves one connection, so the counter is per session). Guix and older Nix clients never see
/// activities (`StderrMessage.encode` drops them), so services may start them unconditionally.
/// A Nix client below minor 20 gets an activity's text as a plain line `<text>...` instead, if
/// the text is not empty and the activity's level is within the verbosity the client set (Nix
/// 2.8 daemon.cc TunnelLogger::startActivity); its stops and results are dropped.
public enum Verbosity: UInt64, Sendable {
    case error = 0, warn, notice, info, talkative, chatty, debug, vomit
}

public enum ActivityType: UInt64, Sendable {
    case unknown = 0, copyPath = 100, fileTransfer, realise, copyPaths, builds, build, optimiseStore,
         verifyPaths, substitute, queryPathInfo, postBuildHook, buildWaiting
}

public enum ResultType: UInt64, Sendable {
    case fileLinked = 100, buildLogLine, untrustedPath, corruptedPath, setPhase, progress, setExpected, postBuildLogLine
}

/// One session's activity log: allocates ids and writes the messages.
public final class ActivityLog {
    public let dialect: Dialect
    /// Whether the client receives activities (Nix >= 20).
    public let receivesActivities: Bool
    private let idBase: UInt64
    private var counter: UInt64 = 0
    private let sink: LogSink
    /// The client's SetOptions verbosity (a raw word: Nix compares it as a number); until then
    /// the daemon's default, `info`.
    public var verbosity: UInt64 = Verbosity.info.rawValue

    public init(dialect: Dialect, receivesActivities: Bool, idBase: UInt64, sink: @escaping LogSink) {
        self.dialect = dialect
        self.receivesActivities = receivesActivities
        self.idBase = idBase
        self.sink = sink
    }

    /// Starts an activity and returns its id.
    public func start(_ type: ActivityType, level: Verbosity = .error, text: String = "", fields: [LogField] = [],
                      parent: UInt64 = 0) throws(WorkerProtocolError) -> UInt64 {
        let id = idBase | (counter & 0xffff_ffff)
        counter += 1
        guard receivesActivities else {
            if dialect == .nix && !text.isEmpty && level.rawValue <= verbosity { try line(text + "...") }
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

    /// A plain log line (STDERR_NEXT), newline added.
    public func line(_ text: String) throws(WorkerProtocolError) { try sink(.next(Array((text + "\n").utf8))) }

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
