import StoreFormats

/// Runs one client connection (formats.md §6): handshake, then a loop of requests, each
/// answered by stderr messages and `STDERR_LAST` + reply, or `STDERR_ERROR`.
///
/// Error semantics (§6.3): an error in a fully-read request ends that request and the
/// connection stays usable; an error while reading a request (bad path syntax, unknown op,
/// broken stream) is sent and the connection closed — Nix 2.8 sends that frame twice, Guix
/// once. Payloads (framed data, inline NARs) are drained after a refused request so the
/// stream stays in step; if that is impossible the connection is closed.
public final class ServerSession {
    public let reader: WireReader
    public let writer: WireWriter
    public let service: StoreService
    public let client: ClientIdentity
    public let storeDirectory: StoreDirectory
    public let versionText: String
    /// Runs after the client's handshake words are read and before `STDERR_LAST` (the daemon
    /// creates the per-user profile directory here); an error refuses the client.
    public var onHandshake: ((Negotiated, Handshake.ClientHello) throws -> Void)?
    /// Called with each operation's code once it is read, before its arguments.
    public var onOperation: ((Opcode) -> Void)?
    public private(set) var negotiated: Negotiated?
    /// High bits of activity ids (the daemon passes its pid << 32, as nix-daemon's ids carry it).
    public let activityIDBase: UInt64
    public private(set) var operationsServed = 0

    public enum End: Equatable, Sendable {
        /// The client closed the connection between requests.
        case clientClosed
        /// The session ended on an error (sent to the client when possible).
        case failed(String)
    }

    public init(stream: ByteStream, service: StoreService, client: ClientIdentity, storeDirectory: StoreDirectory,
                limits: WireLimits = .default, versionText: String = "cloister 0.1", activityIDBase: UInt64 = 0) {
        self.activityIDBase = activityIDBase
        // 256 KiB: one read takes several of a client's 32 KiB frames of a NAR (fewer system calls).
        self.reader = WireReader(stream, limits: limits, bufferSize: 256 * 1024)
        self.writer = WireWriter(stream)
        self.service = service
        self.client = client
        self.storeDirectory = storeDirectory
        self.versionText = versionText
    }

    var context: StoreContext {
        StoreContext(storeDirectory: storeDirectory, rules: negotiated?.dialect == .guix ? .guix : .nix)
    }

    /// Serves the connection until it ends. Never throws and never traps on input.
    public func run() -> End {
        let v: Negotiated
        let log: ActivityLog
        do {
            let (negotiated, hello) = try Handshake.serve(reader: reader, writer: writer, versionText: versionText)
            self.negotiated = negotiated
            v = negotiated
            try onHandshake?(v, hello)
            log = ActivityLog(dialect: v.dialect, receivesActivities: v.hasActivities, idBase: activityIDBase) {
                [unowned self] message throws(WorkerProtocolError) in try self.log(message)
            }
            service.sessionStarted(log)
            try StderrMessage.last.encode(to: writer, v)
            try writer.flush()
        } catch {
            if let v = negotiated { try? ErrorFrame.send(error, to: writer, v) }
            return .failed(ErrorFrame.report(for: error, negotiated?.dialect.messageStyle ?? .nix).message)
        }
        let ctx = context
        while true {
            let request: WorkerRequest
            do {
                if try reader.atEnd() { return .clientClosed }
                let raw = try reader.readU64()
                guard let op = Opcode(rawValue: raw), op.exists(in: v.dialect) else { throw WorkerProtocolError.unknownOperation(raw) }
                onOperation?(op)
                if op == .isValidPath && v.isGuix {
                    // Guix checks this path only after starting work, so a bad one is an
                    // ordinary error and the connection survives (nix-daemon.cc wopIsValidPath,
                    // Guix test "valid-path? recovery").
                    let text = try reader.readShortString("path")
                    do { request = .isValidPath(try ctx.parse(text)) } catch {
                        try ErrorFrame.send(error, to: writer, v)
                        continue
                    }
                } else {
                    request = try WorkerRequest.decodeArguments(of: op, from: reader, v, ctx)
                }
            } catch {
                return fatal(error, v, whileReading: true)
            }
            do {
                try perform(request, v, ctx, log)
                try writer.flush()
                operationsServed += 1
            } catch let fault as SessionFault {
                return fatal(fault.error, v, whileReading: false)
            } catch {
                return fatal(error, v, whileReading: false)
            }
        }
    }

    /// Sends the error and ends the session.
    private func fatal(_ error: any Error, _ v: Negotiated, whileReading: Bool) -> End {
        let reason = ErrorFrame.report(for: error, v.dialect.messageStyle).message
        if case .transport = error as? WorkerProtocolError { return .failed(reason) }
        if case .endOfStream = error as? WorkerProtocolError { return .failed(reason) }
        try? ErrorFrame.send(error, to: writer, v)
        // Nix 2.8 reports a request it could not read twice (039-pyclient-1.34-misc-ops.json).
        if whileReading && v.dialect == .nix { try? ErrorFrame.send(error, to: writer, v) }
        return .failed(reason)
    }

    /// An error after which the stream cannot be trusted: the session closes.
    struct SessionFault: Error { let error: any Error }

    func log(_ message: StderrMessage) throws(WorkerProtocolError) {
        guard let v = negotiated else { return }
        try message.encode(to: writer, v)
    }

    /// Answers with `STDERR_LAST` and the reply.
    func reply(_ reply: WorkerReply, _ v: Negotiated, _ ctx: StoreContext) throws(WorkerProtocolError) {
        try StderrMessage.last.encode(to: writer, v)
        try reply.encode(to: writer, v, ctx)
    }

    /// Runs a service call; a thrown error becomes an error frame and the connection stays
    /// usable unless the payload stream broke (then `SessionFault`).
    func serve(_ v: Negotiated, payload: GuardedSource? = nil, drain: (() throws(WorkerProtocolError) -> Void)? = nil,
               _ body: () throws -> Void) throws {
        do {
            try body()
        } catch let fault as SessionFault {
            throw fault
        } catch {
            if let failure = payload?.failure { throw SessionFault(error: failure) }
            do { try drain?() } catch { throw SessionFault(error: error) }
            if let failure = payload?.failure { throw SessionFault(error: failure) }
            do { try ErrorFrame.send(error, to: writer, v) } catch { throw SessionFault(error: error) }
        }
    }
}
