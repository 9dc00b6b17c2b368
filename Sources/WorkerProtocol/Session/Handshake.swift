/// The opening exchange (formats.md §6.2; guix-daemon.md §7.2):
///
///     C->D u64 WORKER_MAGIC_1 0x6e697863
///     D->C u64 WORKER_MAGIC_2 0x6478696f, u64 daemon version
///     C->D u64 client version
///     C->D if minor >= 14: u64 affinity flag (+ u64 cpu if set)
///     C->D if minor >= 11: u64 reserveSpace
///     D->C Nix minor >= 33: string daemon version text
///     D->C stderr messages, then STDERR_LAST (or STDERR_ERROR to refuse)
///
/// Magic numbers from worker-protocol.hh (both Nix 2.8 and Guix).
public enum Handshake {
    public static let clientMagic: UInt64 = 0x6e69_7863
    public static let daemonMagic: UInt64 = 0x6478_696f

    /// What the client told us in the handshake.
    public struct ClientHello: Hashable, Sendable {
        public var version: ProtocolVersion
        public var affinity: UInt64?
        public var reserveSpace: Bool
    }

    /// Server side, up to (not including) the final `STDERR_LAST`, so the caller can still
    /// refuse the client with an error frame. Throws `unsupportedVersion` for clients whose
    /// formats are not implemented; `refusal` then carries the negotiated versions for the error.
    public static func serve(reader r: WireReader, writer w: WireWriter,
                             daemonVersion: ProtocolVersion = .daemonDefault,
                             versionText: String) throws(WorkerProtocolError) -> (Negotiated, ClientHello) {
        let magic = try r.readU64()
        guard magic == clientMagic else { throw .badMagic(expected: clientMagic, got: magic) }
        try w.writeU64(daemonMagic)
        try w.writeU64(daemonVersion.raw)
        try w.flush()
        let client = ProtocolVersion(try r.readU64())
        let v = Negotiated(dialect: Dialect(clientVersion: client), clientVersion: client, daemonVersion: daemonVersion)
        guard client.major == 0x100, client >= .oldestNixClient else {
            throw .unsupportedVersion(client.raw, reason: "the client version is too old or has another major")
        }
        var hello = ClientHello(version: client, affinity: nil, reserveSpace: false)
        if v.hasAffinity, try r.readBool("affinity flag") { hello.affinity = try r.readU64() }
        if v.hasReserveSpace { hello.reserveSpace = try r.readBool("reserveSpace") }
        if v.dialect == .nix && client.minor > ProtocolVersion.newestNixMinor {
            // Minors >= 35 add a trust word and >= 38 a feature exchange, not implemented:
            // the client would misread our replies, so it is refused (after the version text
            // it expects) rather than served wrongly.
            try w.writeString(versionText)
            throw .unsupportedVersion(client.raw, reason: "Cloister speaks Nix protocol up to 1.\(ProtocolVersion.newestNixMinor)")
        }
        if v.hasVersionString { try w.writeString(versionText) }
        return (v, hello)
    }

    /// Client side, through `STDERR_LAST`. Returns the negotiated versions and the daemon's
    /// version text (nil when it sends none).
    public static func connect(reader r: WireReader, writer w: WireWriter, clientVersion: ProtocolVersion,
                               reserveSpace: Bool = false) throws(WorkerProtocolError) -> (Negotiated, String?) {
        try w.writeU64(clientMagic)
        try w.flush()
        let magic = try r.readU64()
        guard magic == daemonMagic else { throw .badMagic(expected: daemonMagic, got: magic) }
        let daemon = ProtocolVersion(try r.readU64())
        guard daemon.major == 0x100, daemon.minor >= 10 else {
            throw .unsupportedVersion(daemon.raw, reason: "the daemon's protocol is not 1.x with x >= 10")
        }
        let v = Negotiated(dialect: Dialect(clientVersion: clientVersion), clientVersion: clientVersion, daemonVersion: daemon)
        if v.isGuix && daemon.minor < ProtocolVersion.oldestGuixDaemonMinor {
            throw .unsupportedVersion(daemon.raw, reason: "build daemon handshake failed")
        }
        try w.writeU64(clientVersion.raw)
        if v.hasAffinity { try w.writeU64(0) }
        if v.hasReserveSpace { try w.writeBool(reserveSpace) }
        try w.flush()
        let text = v.hasVersionString ? try r.readShortString("daemon version") : nil
        while true {
            switch try StderrMessage.decode(from: r, v) {
            case .last: return (v, text)
            case .error(let report): throw .remote(message: report.message, status: report.status)
            default: continue
            }
        }
    }
}
