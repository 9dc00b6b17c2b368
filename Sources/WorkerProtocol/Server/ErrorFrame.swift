import StoreFormats

/// The one place an error becomes what the client reads in `STDERR_ERROR` (style.md habit 4).
/// Clients never see Swift type names: errors are asked for their message in the session's
/// style (`StyledError`: Nix 2.8's or guix-daemon's words), else their description, and
/// anything that has neither becomes a generic message.
public enum ErrorFrame {
    public static func report(for error: any Error, _ style: MessageStyle) -> ErrorReport {
        switch error {
        case let e as StoreServiceError:
            return ErrorReport(message: e.message(style), status: e.status)
        case let e as WorkerProtocolError:
            if case .remote(let message, let status) = e { return ErrorReport(message: message, status: status) }
            return ErrorReport(message: e.message(style))
        case let e as any StyledError:
            return ErrorReport(message: e.message(style))
        case let e as CustomStringConvertible:
            return ErrorReport(message: e.description)
        default:
            return ErrorReport(message: "internal error in the build daemon")
        }
    }

    /// Writes the frame for `error` in the session's layout and words, and flushes it.
    public static func send(_ error: any Error, to writer: WireWriter, _ v: Negotiated) throws(WorkerProtocolError) {
        try StderrMessage.error(report(for: error, v.dialect.messageStyle)).encode(to: writer, v)
        try writer.flush()
    }
}

/// Records whether the stream under it failed, so the session can tell a broken connection
/// (close) from a refused request (error frame, carry on).
final class GuardedSource: ByteSource {
    let inner: ByteSource
    private(set) var failure: WorkerProtocolError?
    init(_ inner: ByteSource) { self.inner = inner }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(WorkerProtocolError) -> Int {
        do { return try inner.read(into: buffer) } catch {
            failure = error
            throw error
        }
    }
}
