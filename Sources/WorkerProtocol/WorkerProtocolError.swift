import StoreFormats

/// Every way a worker-protocol exchange can fail. Each case carries what a person needs to find
/// the fault: the byte offset in the stream, the field, the limit, the offending value.
public enum WorkerProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The stream ended `offset` bytes in, while `wanted` more bytes were expected.
    case endOfStream(offset: UInt64, wanted: Int)
    /// The underlying transport failed (errno as reported by the stream).
    case transport(operation: String, errno: Int32)
    /// A padded string's padding held a non-zero byte (Nix: "non-zero padding").
    case nonZeroPadding(offset: UInt64)
    /// A string or frame longer than the limit for its field.
    case tooLong(field: String, length: UInt64, limit: UInt64, offset: UInt64)
    /// A list, set or map with more entries than the limit for its field.
    case tooMany(field: String, count: UInt64, limit: UInt64, offset: UInt64)
    /// An integer that does not fit the field (e.g. a 32-bit "int" slot holding more).
    case integerTooLarge(field: String, value: UInt64, offset: UInt64)
    /// A field that must be text held bytes that are not UTF-8.
    case invalidUTF8(field: String, offset: UInt64)
    /// A value that parsed but is not acceptable (a bad store path, an unknown method...).
    case invalidValue(field: String, text: String, reason: String)
    /// The first word of the handshake was not the expected magic number.
    case badMagic(expected: UInt64, got: UInt64)
    /// The peer's protocol version cannot be served.
    case unsupportedVersion(UInt64, reason: String)
    /// An op code outside the table, or one the dialect does not have.
    case unknownOperation(UInt64)
    /// A stderr-channel code outside §6.3's table, or one the dialect forbids.
    case unknownStderrCode(UInt64, offset: UInt64)
    /// An inline NAR broke the grammar of formats.md §3.1.
    case invalidNAR(offset: UInt64, reason: String)
    /// An error reported by the other side in a `STDERR_ERROR` frame.
    case remote(message: String, status: UInt64)
    /// A request that a client with this trust level may not make.
    case notPermitted(String)
    /// A bytes-level format error from StoreFormats (a hash, a store path).
    case format(FormatError)

    public var description: String {
        switch self {
        case .endOfStream(let offset, let wanted): "unexpected end of stream at byte \(offset) (\(wanted) more bytes expected)"
        case .transport(let operation, let errno): "\(operation) failed (errno \(errno))"
        case .nonZeroPadding(let offset): "non-zero padding at byte \(offset)"
        case .tooLong(let field, let length, let limit, let offset): "\(field) of \(length) bytes at byte \(offset) exceeds the limit of \(limit)"
        case .tooMany(let field, let count, let limit, let offset): "\(field) with \(count) entries at byte \(offset) exceeds the limit of \(limit)"
        case .integerTooLarge(let field, let value, let offset): "serialised integer \(value) is too large for \(field) (byte \(offset))"
        case .invalidUTF8(let field, let offset): "\(field) at byte \(offset) is not valid UTF-8"
        case .invalidValue(let field, let text, let reason): "invalid \(field) '\(text)': \(reason)"
        case .badMagic(let expected, let got): "protocol mismatch (expected magic 0x\(String(expected, radix: 16)), got 0x\(String(got, radix: 16)))"
        case .unsupportedVersion(let version, let reason): "unsupported protocol version 0x\(String(version, radix: 16)): \(reason)"
        case .unknownOperation(let op): "invalid operation \(op)"
        case .unknownStderrCode(let code, let offset): "unknown stderr message code 0x\(String(code, radix: 16)) at byte \(offset)"
        case .invalidNAR(let offset, let reason): "invalid NAR at byte \(offset): \(reason)"
        case .remote(let message, _): message
        case .notPermitted(let message): message
        case .format(let error): error.description
        }
    }
}

extension WorkerProtocolError: StyledError {
    /// A store path's error in the session's words; everything else as described.
    public func message(_ style: MessageStyle) -> String {
        if case .format(let error) = self { return error.message(style) }
        return description
    }
}
