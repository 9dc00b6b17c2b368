import StoreFormats

/// Protocol versions and dialects (formats.md §6.2, §6.10, §6.11).
///
/// A version word holds the major in bits 8..15 (0x100 = 1) and the minor in bits 0..7.
/// Cloister announces 0x164 (Guix refuses daemons below 0x161; Nix 2.8's thresholds are all
/// <= 34), then picks the dialect from the client's word: minor >= 0x60 is Guix.
public struct ProtocolVersion: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let raw: UInt64
    public init(_ raw: UInt64) { self.raw = raw }

    public var major: UInt64 { raw & 0xff00 }
    public var minor: UInt64 { raw & 0x00ff }
    public var description: String { "\(major >> 8).\(minor) (0x\(String(raw, radix: 16)))" }

    public static func < (a: ProtocolVersion, b: ProtocolVersion) -> Bool { a.raw < b.raw }

    /// What Cloister announces (Guix's PROTOCOL_VERSION, worker-protocol.hh).
    public static let daemonDefault = ProtocolVersion(0x164)
    /// Nix 2.8.0's PROTOCOL_VERSION (worker-protocol.hh at tag 2.8.0).
    public static let nix28 = ProtocolVersion(0x122)
    /// Current Guix clients (guix/store.scm `%protocol-version`).
    public static let guix = ProtocolVersion(0x164)
    /// Oldest Nix client the Nix 2.8 daemon accepts (daemon.cc: "the Nix client version is too old").
    public static let oldestNixClient = ProtocolVersion(0x10a)
    /// Highest Nix minor whose formats Cloister implements (1.34 = Nix 2.8.0).
    public static let newestNixMinor: UInt64 = 34
    /// Guix clients refuse daemons whose minor is below this (guix/store.scm `connect-to-daemon`).
    public static let oldestGuixDaemonMinor: UInt64 = 0x61
}

/// Which family of clients a session serves; formats differ in the places §6.11 lists.
public enum Dialect: String, Sendable, Hashable {
    case nix
    case guix

    /// §6.2: client minor >= 0x60 -> Guix (Nix clients currently send at most 0x127).
    public init(clientVersion: ProtocolVersion) {
        self = clientVersion.minor >= 0x60 ? .guix : .nix
    }

    /// The words its daemon uses (error messages, log lines).
    public var messageStyle: MessageStyle { self == .guix ? .guix : .nix }
}

/// The versions one connection settled on; every version-dependent format asks this.
public struct Negotiated: Hashable, Sendable {
    public let dialect: Dialect
    public let clientVersion: ProtocolVersion
    public let daemonVersion: ProtocolVersion

    public init(dialect: Dialect, clientVersion: ProtocolVersion, daemonVersion: ProtocolVersion) {
        self.dialect = dialect
        self.clientVersion = clientVersion
        self.daemonVersion = daemonVersion
    }

    /// The minor both sides use: a 2.8 daemon conditions on the client's minor, a 2.8 client
    /// on the daemon's, current Nix on the smaller of the two.
    public var minor: UInt64 { min(clientVersion.minor, daemonVersion.minor) }

    public var isGuix: Bool { dialect == .guix }

    func nix(atLeast k: UInt64) -> Bool { dialect == .nix && minor >= k }

    // Thresholds, formats.md §6.10 (Nix) and guix-daemon.md §7 (Guix).
    var hasAffinity: Bool { minor >= 14 }
    var hasReserveSpace: Bool { minor >= 11 }
    var hasVersionString: Bool { nix(atLeast: 33) }
    var hasActivities: Bool { nix(atLeast: 20) }
    var hasStructuredErrors: Bool { nix(atLeast: 26) }
    /// Guix sends the error status only for client minor >= 8; Nix < 26 always does.
    var errorHasStatus: Bool { isGuix ? minor >= 8 : true }
    var pathInfoHasTrustFields: Bool { nix(atLeast: 16) }
    var queryPathInfoHasValidFlag: Bool { nix(atLeast: 17) }
    var buildPathsHasMode: Bool { minor >= 15 }
    var addToStoreIsFramed: Bool { nix(atLeast: 25) }
    var addToStoreNarIsFramed: Bool { nix(atLeast: 23) }
    var addToStoreNarUsesRead: Bool { nix(atLeast: 21) && !nix(atLeast: 23) }
    var substitutablePathInfosTakesMap: Bool { nix(atLeast: 22) }
    var queryValidPathsHasSubstituteFlag: Bool { nix(atLeast: 27) }
    var buildResultHasOutputs: Bool { nix(atLeast: 28) }
    var buildResultHasTimes: Bool { nix(atLeast: 29) }
    var setOptionsIsGuixShape: Bool { isGuix && minor >= 0x61 }
    var setOptionsHasOverrides: Bool { minor >= 12 }
}
