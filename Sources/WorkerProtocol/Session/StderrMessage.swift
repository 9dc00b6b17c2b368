/// The stderr channel (formats.md §6.3): after a request the daemon sends messages, each a u64
/// code and a payload, ending with `STDERR_LAST` (reply follows) or `STDERR_ERROR`.
/// Codes from Nix's worker-protocol.hh and Guix's nix/libstore/worker-protocol.hh.
public enum StderrCode: UInt64, Sendable {
    case next = 0x6f6c6d67
    case read = 0x64617461
    case write = 0x64617416
    case last = 0x616c7473
    case error = 0x63787470
    case startActivity = 0x53545254
    case stopActivity = 0x53544f50
    case result = 0x52534c54
}

/// One typed field of an activity or result (`fields`: 0 = integer, 1 = string).
public enum LogField: Hashable, Sendable {
    case int(UInt64)
    case string([UInt8])
}

/// An error as carried by `STDERR_ERROR` (§6.3), in whichever of the three layouts the
/// session uses: structured (Nix >= 26), message + status (Nix < 26), Guix message [+ status].
public struct ErrorReport: Hashable, Sendable {
    public var message: String
    /// Exit status: 1 normally; Guix uses 100/101 for build failures.
    public var status: UInt64
    public var level: UInt64
    public var traces: [String]

    public init(message: String, status: UInt64 = 1, level: UInt64 = 0, traces: [String] = []) {
        self.message = message
        self.status = status
        self.level = level
        self.traces = traces
    }
}

public enum StderrMessage: Hashable, Sendable {
    case next([UInt8])
    case read(UInt64)
    case write([UInt8])
    case last
    case error(ErrorReport)
    case startActivity(id: UInt64, level: UInt64, type: UInt64, text: String, fields: [LogField], parent: UInt64)
    case stopActivity(id: UInt64)
    case result(id: UInt64, type: UInt64, fields: [LogField])

    /// Writes the message in the session's layout. Activities are dropped for sessions that
    /// cannot receive them (Guix, Nix < 20) since those clients abort on unknown codes.
    public func encode(to w: WireWriter, _ v: Negotiated) throws(WorkerProtocolError) {
        switch self {
        case .next(let text):
            try w.writeU64(StderrCode.next.rawValue); try w.writeByteString(text)
        case .read(let max):
            try w.writeU64(StderrCode.read.rawValue); try w.writeU64(max)
        case .write(let data):
            try w.writeU64(StderrCode.write.rawValue); try w.writeByteString(data)
        case .last:
            try w.writeU64(StderrCode.last.rawValue)
        case .error(let report):
            try w.writeU64(StderrCode.error.rawValue)
            if v.hasStructuredErrors {
                // daemon.cc / error.cc (Nix 2.8): type, level, legacy name, message, no position, traces.
                try w.writeString("Error")
                try w.writeU64(report.level)
                try w.writeString("Error")
                try w.writeString(report.message)
                try w.writeU64(0)
                try w.writeU64(UInt64(report.traces.count))
                for trace in report.traces {
                    try w.writeU64(0)
                    try w.writeString(trace)
                }
            } else {
                try w.writeString(v.dialect.messageStyle.wholeErrorPrefix + report.message)
                // The Guix client reads a status whenever it can (§6.3), so it is never 0 there.
                if v.errorHasStatus { try w.writeU64(v.isGuix ? max(report.status, 1) : report.status) }
            }
        case .startActivity(let id, let level, let type, let text, let fields, let parent):
            guard v.hasActivities else { return }
            try w.writeU64(StderrCode.startActivity.rawValue)
            try w.writeU64(id); try w.writeU64(level); try w.writeU64(type)
            try w.writeString(text)
            try Self.encode(fields, to: w)
            try w.writeU64(parent)
        case .stopActivity(let id):
            guard v.hasActivities else { return }
            try w.writeU64(StderrCode.stopActivity.rawValue); try w.writeU64(id)
        case .result(let id, let type, let fields):
            guard v.hasActivities else { return }
            try w.writeU64(StderrCode.result.rawValue)
            try w.writeU64(id); try w.writeU64(type)
            try Self.encode(fields, to: w)
        }
    }

    private static func encode(_ fields: [LogField], to w: WireWriter) throws(WorkerProtocolError) {
        try w.writeU64(UInt64(fields.count))
        for field in fields {
            switch field {
            case .int(let n): try w.writeU64(0); try w.writeU64(n)
            case .string(let s): try w.writeU64(1); try w.writeByteString(s)
            }
        }
    }

    private static func decodeFields(_ r: WireReader) throws(WorkerProtocolError) -> [LogField] {
        let count = try r.readCount("fields", limit: r.limits.smallCount)
        var fields: [LogField] = []
        for _ in 0..<count {
            let at = r.offset
            switch try r.readU64() {
            case 0: fields.append(.int(try r.readU64()))
            case 1: fields.append(.string(try r.readByteString("field", limit: r.limits.longString)))
            case let t: throw .invalidValue(field: "log field type", text: String(t), reason: "at byte \(at), expected 0 or 1")
            }
        }
        return fields
    }

    /// Reads one message as a client of a session with versions `v` would.
    public static func decode(from r: WireReader, _ v: Negotiated) throws(WorkerProtocolError) -> StderrMessage {
        let at = r.offset
        let raw = try r.readU64()
        guard let code = StderrCode(rawValue: raw) else { throw .unknownStderrCode(raw, offset: at) }
        switch code {
        case .next: return .next(try r.readByteString("log line", limit: r.limits.longString))
        case .read: return .read(try r.readU64())
        case .write: return .write(try r.readByteString("data", limit: r.limits.longString))
        case .last: return .last
        case .error:
            if v.hasStructuredErrors {
                _ = try r.readShortString("error type")
                let level = try r.readU64()
                _ = try r.readShortString("error name")
                let message = try r.readString("error message", limit: r.limits.longString)
                let posAt = r.offset
                guard try r.readU64() == 0 else {
                    throw .invalidValue(field: "error position", text: "", reason: "at byte \(posAt): positions are never sent")
                }
                let count = try r.readCount("error traces", limit: r.limits.smallCount)
                var traces: [String] = []
                for _ in 0..<count {
                    guard try r.readU64() == 0 else {
                        throw .invalidValue(field: "trace position", text: "", reason: "positions are never sent")
                    }
                    traces.append(try r.readString("trace", limit: r.limits.longString))
                }
                return .error(ErrorReport(message: message, status: 1, level: level, traces: traces))
            }
            let message = try r.readString("error message", limit: r.limits.longString)
            let status = v.errorHasStatus ? try r.readU64() : 1
            return .error(ErrorReport(message: message, status: status))
        case .startActivity, .stopActivity, .result:
            guard v.hasActivities else { throw .unknownStderrCode(raw, offset: at) }
            switch code {
            case .startActivity:
                let id = try r.readU64(), level = try r.readU64(), type = try r.readU64()
                let text = try r.readString("activity text", limit: r.limits.longString)
                let fields = try decodeFields(r)
                return .startActivity(id: id, level: level, type: type, text: text, fields: fields, parent: try r.readU64())
            case .stopActivity:
                return .stopActivity(id: try r.readU64())
            default:
                let id = try r.readU64(), type = try r.readU64()
                return .result(id: id, type: type, fields: try decodeFields(r))
            }
        }
    }
}
