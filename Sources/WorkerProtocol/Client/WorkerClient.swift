import StoreFormats

/// The client side of the worker protocol, in either dialect: Nix 1.34 (as Nix 2.8 speaks it)
/// or Guix 0x164 (as `guix/store.scm` speaks it). Used by the `cloister` CLI and by tests.
public final class WorkerClient {
    public let reader: WireReader
    public let writer: WireWriter
    public let negotiated: Negotiated
    public let context: StoreContext
    /// The daemon's version text (Nix >= 33 only).
    public let daemonVersionText: String?
    /// Stderr messages other than LAST/ERROR/READ/WRITE go here (log lines, activities).
    public var onLog: (StderrMessage) -> Void = { _ in }

    public init(stream: ByteStream, version: ProtocolVersion = .nix28, storeDirectory: StoreDirectory,
                options: ClientOptions? = nil, limits: WireLimits = .default) throws(WorkerProtocolError) {
        reader = WireReader(stream, limits: limits)
        writer = WireWriter(stream)
        let (v, text) = try Handshake.connect(reader: reader, writer: writer, clientVersion: version)
        negotiated = v
        daemonVersionText = text
        context = StoreContext(storeDirectory: storeDirectory, rules: v.isGuix ? .guix : .nix)
        if let options { _ = try call(.setOptions(options)) }
    }

    /// Sends `request` (then `payload`, which writes any data that follows the arguments),
    /// processes stderr messages, and reads the reply. `dataSource` answers STDERR_READ and
    /// `dataSink` receives STDERR_WRITE data. An error frame throws `.remote`.
    @discardableResult
    public func call(_ request: WorkerRequest, payload: ((WireWriter) throws(WorkerProtocolError) -> Void)? = nil,
                     dataSource: ByteSource? = nil, dataSink: ByteSink? = nil) throws(WorkerProtocolError) -> WorkerReply {
        try request.encode(to: writer, negotiated, context)
        try payload?(writer)
        try writer.flush()
        while true {
            let message = try StderrMessage.decode(from: reader, negotiated)
            switch message {
            case .last:
                return try WorkerReply.decode(for: request, from: reader, negotiated, context)
            case .error(let report):
                throw .remote(message: report.message, status: report.status)
            case .read(let max):
                var chunk = [UInt8](repeating: 0, count: Int(min(max, 1 << 20)))
                let n = try withMutableBytes(&chunk) { (raw: UnsafeMutableRawBufferPointer) throws(WorkerProtocolError) -> Int in
                    try dataSource?.read(into: raw) ?? 0
                }
                try writer.writeByteString(chunk[0..<n])
                try writer.flush()
            case .write(let data):
                try dataSink?.write(data)
            default:
                onLog(message)
            }
        }
    }

    // MARK: Conveniences over `call`.

    public func isValidPath(_ path: StorePath) throws(WorkerProtocolError) -> Bool {
        guard case .int(let n) = try call(.isValidPath(path)) else { throw unexpected("IsValidPath") }
        return n != 0
    }

    public func queryPathInfo(_ path: StorePath) throws(WorkerProtocolError) -> PathInfoRecord? {
        guard case .pathInfo(let info) = try call(.queryPathInfo(path)) else { throw unexpected("QueryPathInfo") }
        return info
    }

    public func strings(_ request: WorkerRequest) throws(WorkerProtocolError) -> [String] {
        guard case .strings(let list) = try call(request) else { throw unexpected("\(request.opcode)") }
        return list
    }

    public func addTextToStore(name: String, text: [UInt8], references: [StorePath] = []) throws(WorkerProtocolError) -> StorePath {
        guard case .string(let path) = try call(.addTextToStore(name: name, text: text, references: references)) else { throw unexpected("AddTextToStore") }
        return try context.parse(path)
    }

    /// Adds a NAR (recursive) or a file's bytes (flat) in the form the session's version uses:
    /// framed with a method string (Nix >= 25), else the old form with the data as a NAR.
    public func addToStore(name: String, method: AddMethod, nar: [UInt8]) throws(WorkerProtocolError) -> StorePath {
        let recursive: Bool, algorithm: HashAlgorithm
        switch method {
        case .text: throw .invalidValue(field: "method", text: "text", reason: "use addTextToStore")
        case .fixed(let m, let a): recursive = m == .recursive; algorithm = a
        }
        if negotiated.addToStoreIsFramed {
            let methodText = "fixed:" + (recursive ? "r:" : "") + algorithm.rawValue
            let reply = try call(.addToStore(name: name, method: methodText, references: [], repair: false)) { (w: WireWriter) throws(WorkerProtocolError) in
                let sink = FramedSink(w)
                try sink.write(nar)
                try sink.finish()
            }
            guard case .addedPathInfo(let info) = reply else { throw unexpected("AddToStore") }
            return info.path
        }
        let reply = try call(.addToStoreLegacy(name: name, fixed: true, recursive: recursive, algorithm: algorithm.rawValue)) { (w: WireWriter) throws(WorkerProtocolError) in
            try w.writeRaw(nar)
        }
        guard case .string(let path) = reply else { throw unexpected("AddToStore") }
        return try context.parse(path)
    }

    private func unexpected(_ op: String) -> WorkerProtocolError {
        .invalidValue(field: "reply", text: op, reason: "unexpected reply shape")
    }
}
