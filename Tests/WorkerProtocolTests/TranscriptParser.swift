import StoreFormats
@testable import WorkerProtocol

/// Parses one captured Nix 2.8 session (both directions) in lockstep with Cloister's codec:
/// every client request decodes to a typed request whose re-encoding equals the captured
/// bytes, its payload parses, and every daemon reply decodes and re-encodes identically.
struct TranscriptParser {
    struct Exchange {
        var request: WorkerRequest?
        var messages: [StderrMessage] = []
        var reply: WorkerReply?
        var decodeError: WorkerProtocolError?
    }

    let clientBytes: [UInt8]
    let serverBytes: [UInt8]
    var exchanges: [Exchange] = []
    var mismatches: [String] = []
    /// The error frames after the last exchange (a request the daemon could not read), in order.
    var trailingErrors: [StderrMessage] = []
    var negotiated: Negotiated?
    var versionText: String?
    var clientLeftover = 0
    var serverLeftover = 0

    init(client: [UInt8], server: [UInt8]) {
        clientBytes = client
        serverBytes = server
    }

    init(chunks: [[String]]) {
        var c: [UInt8] = [], s: [UInt8] = []
        for chunk in chunks {
            if chunk[0] == "C" { c += Vectors.hex(chunk[1]) } else { s += Vectors.hex(chunk[1]) }
        }
        clientBytes = c
        serverBytes = s
    }

    mutating func parse() throws {
        let c = WireReader(MemoryStream(input: clientBytes, maxReadSize: 13))
        let s = WireReader(MemoryStream(input: serverBytes, maxReadSize: 13))
        guard try c.readU64() == Handshake.clientMagic, try s.readU64() == Handshake.daemonMagic else {
            mismatches.append("magic"); return
        }
        let daemon = ProtocolVersion(try s.readU64())
        let client = ProtocolVersion(try c.readU64())
        let v = Negotiated(dialect: Dialect(clientVersion: client), clientVersion: client, daemonVersion: daemon)
        negotiated = v
        if v.hasAffinity, try c.readU64() != 0 { _ = try c.readU64() }
        if v.hasReserveSpace { _ = try c.readU64() }
        if v.hasVersionString { versionText = try s.readShortString("version") }
        while case let m = try StderrMessage.decode(from: s, v), m != .last {}
        let ctx = StoreContext.nix

        while try !c.atEnd() {
            var exchange = Exchange()
            let start = Int(c.offset)
            do {
                exchange.request = try WorkerRequest.decode(from: c, v, ctx)
            } catch {
                exchange.decodeError = error
                exchanges.append(exchange)
                break
            }
            guard let request = exchange.request else { break }
            try check(request: request, bytes: Array(clientBytes[start..<Int(c.offset)]), v, ctx)
            try consumePayload(of: request, c, v, ctx)
            var failed = false
            loop: while true {
                let m = try StderrMessage.decode(from: s, v)
                exchange.messages.append(m)
                switch m {
                case .last: break loop
                case .error: failed = true; break loop
                case .read(let max): _ = try c.readByteString("tunnelled", limit: max)
                default: continue
                }
            }
            if !failed {
                let replyStart = Int(s.offset)
                let reply = try WorkerReply.decode(for: request, from: s, v, ctx)
                exchange.reply = reply
                let out = MemoryStream()
                let w = WireWriter(out)
                try reply.encode(to: w, v, ctx)
                try w.flush()
                if out.output != Array(serverBytes[replyStart..<Int(s.offset)]) {
                    mismatches.append("reply to \(request.opcode) re-encodes differently")
                }
            }
            exchanges.append(exchange)
        }
        while try !s.atEnd() {
            let message = try StderrMessage.decode(from: s, v)
            guard case .error = message else { mismatches.append("trailing non-error"); break }
            trailingErrors.append(message)
        }
        clientLeftover = clientBytes.count - Int(c.offset)
        serverLeftover = serverBytes.count - Int(s.offset)
    }

    private mutating func check(request: WorkerRequest, bytes: [UInt8], _ v: Negotiated, _ ctx: StoreContext) throws {
        let out = MemoryStream()
        let w = WireWriter(out)
        try request.encode(to: w, v, ctx)
        try w.flush()
        if out.output != bytes { mismatches.append("request \(request.opcode) re-encodes differently") }
    }

    /// Parses what follows the arguments: framed data (with the NARs inside checked against
    /// the grammar), or an inline NAR.
    private func consumePayload(of request: WorkerRequest, _ c: WireReader, _ v: Negotiated, _ ctx: StoreContext) throws {
        switch request.payload(v) {
        case .none, .stderrRead: return
        case .rawNAR: try NarDelimiter(c).finish()
        case .framed:
            let framed = FramedSource(c)
            let inner = WireReader(framed)
            switch request {
            case .addToStore(_, let method, _, _) where method.hasPrefix("fixed:r:"):
                try NarDelimiter(inner).finish()
            case .addToStoreNar:
                try NarDelimiter(inner).finish()
            case .addMultipleToStore:
                let count = try inner.readCount("paths", limit: 1000)
                for _ in 0..<count {
                    _ = try PathInfoRecord.decode(from: inner, v, ctx, withPath: true)
                    try NarDelimiter(inner).finish()
                }
            default:
                try inner.source.drain()
            }
            if try !inner.atEnd() { throw WorkerProtocolError.invalidValue(field: "payload", text: "", reason: "leftover bytes in frames") }
            try framed.finish()
        }
    }
}
