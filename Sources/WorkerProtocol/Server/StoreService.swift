import StoreFormats

/// Who is on the other end of a connection, as the daemon established it (SO_PEERCRED for
/// Unix sockets; nothing for TCP). Trust is decided by the daemon, never by the client.
public struct ClientIdentity: Hashable, Sendable {
    public var uid: UInt32?
    public var gid: UInt32?
    public var pid: Int32?
    public var userName: String?
    /// guix-daemon.md §0: root or the daemon's own uid.
    public var trusted: Bool
    /// A TCP client: never trusted, no GC, no keep-failed (guix-daemon.md §7.5).
    public var remote: Bool

    public init(uid: UInt32? = nil, gid: UInt32? = nil, pid: Int32? = nil, userName: String? = nil, trusted: Bool, remote: Bool = false) {
        self.uid = uid; self.gid = gid; self.pid = pid; self.userName = userName
        self.trusted = trusted && !remote
        self.remote = remote
    }
}

/// GC request (op 20) and its result.
public struct GCRequest: Hashable, Sendable {
    public enum Action: UInt64, Sendable { case returnLive = 0, returnDead, deleteDead, deleteSpecific }
    public var action: Action
    public var paths: [StorePath]
    public var maxFreed: UInt64
    public init(action: Action, paths: [StorePath], maxFreed: UInt64) { self.action = action; self.paths = paths; self.maxFreed = maxFreed }
}

public struct GCResult: Hashable, Sendable {
    public var paths: [String]
    public var bytesFreed: UInt64
    public init(paths: [String], bytesFreed: UInt64) { self.paths = paths; self.bytesFreed = bytesFreed }
}

public struct MissingPaths: Hashable, Sendable {
    public var willBuild: [StorePath] = []
    public var willSubstitute: [StorePath] = []
    public var unknown: [StorePath] = []
    public var downloadSize: UInt64 = 0
    public var narSize: UInt64 = 0
    public init() {}
}

/// How AddToStore's data is to be hashed (formats.md §2.4; the method string of >= 25 or the
/// fixed/recursive flags before).
public enum AddMethod: Hashable, Sendable {
    case text
    case fixed(IngestionMethod, HashAlgorithm)

    /// Parses `text:sha256`, `fixed:r:sha256`, `fixed:sha1`, ...
    public init(parsing text: String) throws(WorkerProtocolError) {
        if text == "text:sha256" { self = .text; return }
        guard text.hasPrefix("fixed:") else {
            throw .invalidValue(field: "content-address method", text: text, reason: "expected 'text:sha256' or 'fixed:[r:]ALGO'")
        }
        var rest = text.dropFirst(6)
        var method = IngestionMethod.flat
        if rest.hasPrefix("r:") { method = .recursive; rest = rest.dropFirst(2) }
        guard let algorithm = HashAlgorithm(rawValue: String(rest)) else {
            throw .invalidValue(field: "content-address method", text: text, reason: "unknown hash algorithm")
        }
        self = .fixed(method, algorithm)
    }
}

/// What the server calls to serve the operations of formats.md §6.6. The daemon implements it
/// over LocalStore (and the builder); tests implement it in memory. Errors thrown here become
/// `STDERR_ERROR` frames through `ErrorFrame.report(for:_:)`: throw `StoreServiceError` (or any
/// error whose description is fit for a user). Trust checks are made by `ServerSession`
/// before these are called; arguments have already passed the wire limits.
public protocol StoreService: AnyObject {
    /// Called once after the handshake: the session's dialect and activity log (for services
    /// whose messages differ by dialect or that report Nix activities).
    func sessionStarted(_ log: ActivityLog)

    /// The client's `SetOptions`, after the session has filtered them by trust; `settings`
    /// are the effective overrides (untrusted, non-whitelisted names carry `untrusted-`).
    func setOptions(_ options: ClientOptions, settings: [ClientOptions.Setting]) throws

    func isValidPath(_ path: StorePath) throws -> Bool
    /// nil when the path is not valid.
    func queryPathInfo(_ path: StorePath) throws -> PathInfoRecord?
    func queryReferrers(_ path: StorePath) throws -> [StorePath]
    func queryValidDerivers(_ path: StorePath) throws -> [StorePath]
    /// Output name -> path (nil when unknown), from the derivation in the store.
    func queryDerivationOutputMap(_ drvPath: StorePath) throws -> [(String, StorePath?)]
    func queryPathFromHashPart(_ hashPart: String) throws -> StorePath?
    func queryAllValidPaths() throws -> [StorePath]
    func queryValidPaths(_ paths: [StorePath]) throws -> [StorePath]

    /// Adds an object that arrives as a NAR (`source` ends where the NAR ends), hashed per
    /// `method` (flat: the NAR must hold a single regular file, whose contents are hashed).
    func addToStore(name: String, method: AddMethod, references: [StorePath], repair: Bool, source: ByteSource) throws -> PathInfoRecord
    /// Flat AddToStore (>= 1.25): `contents` is the file's bytes, no NAR around them and no
    /// length up front; `limit` bounds what an implementation that buffers may accept.
    func addFlatToStore(name: String, algorithm: HashAlgorithm, references: [StorePath], repair: Bool,
                        contents: ByteSource, limit: Int) throws -> PathInfoRecord
    func addTextToStore(name: String, text: [UInt8], references: [StorePath], repair: Bool) throws -> StorePath
    /// A NAR whose metadata the client supplies; `checkSignatures` is forced on for
    /// untrusted clients (and `info.ultimate` off).
    func addToStoreNar(_ info: PathInfoRecord, source: ByteSource, repair: Bool, checkSignatures: Bool) throws
    func narFromPath(_ path: StorePath, to sink: ByteSink) throws
    /// Writes the export stream of one path (formats.md §3.5), without the leading `u64 1`.
    func exportPath(_ path: StorePath, sign: Bool, to sink: ByteSink) throws
    /// Reads items until the end marker; each is checked per `policy` before it is installed.
    func importPaths(_ stream: ExportStreamReader, policy: ImportPolicy) throws -> [StorePath]

    func addTempRoot(_ path: StorePath) throws
    func addIndirectRoot(_ path: String) throws
    func syncWithGC() throws
    /// Link -> target; `censor` for untrusted Nix clients.
    func findRoots(censor: Bool) throws -> [(String, StorePath)]
    func collectGarbage(_ request: GCRequest) throws -> GCResult
    /// Returns whether errors remain.
    func verifyStore(checkContents: Bool, repair: Bool, log: ActivityLog) throws -> Bool
    func optimiseStore(log: ActivityLog) throws
    func addSignatures(_ path: StorePath, _ signatures: [String]) throws

    func ensurePath(_ path: StorePath, log: ActivityLog) throws
    func buildPaths(_ paths: [DerivedPath], mode: UInt64, log: ActivityLog) throws
    func buildPathsWithResults(_ paths: [DerivedPath], mode: UInt64, log: ActivityLog) throws -> [(DerivedPath, BuildResult)]
    func buildDerivation(_ drvPath: StorePath, _ derivation: WireDerivation, mode: UInt64, log: ActivityLog) throws -> BuildResult
    func queryMissing(_ paths: [DerivedPath]) throws -> MissingPaths
    func addBuildLog(_ drvPath: StorePath, source: ByteSource) throws

    func queryFailedPaths() throws -> [StorePath]
    func clearFailedPaths(_ paths: [StorePath]) throws
    func builtinBuilders() throws -> [String]
    /// Op 81: client-supplied URLs if any (`untrusted-substitute-urls`), else the daemon's.
    func substituteURLs() throws -> [String]
    /// The daemon's own substituters: the only ones an untrusted Nix client may choose.
    var trustedSubstituteURLs: [String] { get }
    func querySubstitutablePaths(_ paths: [StorePath]) throws -> [StorePath]
    func querySubstitutablePathInfos(_ paths: [StorePath]) throws -> [WorkerReply.SubstitutableInfo]
}

/// Defaults for what a store without substituters, builders or failure cache answers.
extension StoreService {
    public func sessionStarted(_ log: ActivityLog) {}
    public func setOptions(_ options: ClientOptions, settings: [ClientOptions.Setting]) throws {}
    public func queryValidPaths(_ paths: [StorePath]) throws -> [StorePath] {
        try paths.filter { try isValidPath($0) }
    }
    public func querySubstitutablePaths(_ paths: [StorePath]) throws -> [StorePath] { [] }
    public func querySubstitutablePathInfos(_ paths: [StorePath]) throws -> [WorkerReply.SubstitutableInfo] { [] }
    public func queryFailedPaths() throws -> [StorePath] { [] }
    public func clearFailedPaths(_ paths: [StorePath]) throws {}
    public func builtinBuilders() throws -> [String] { ["download", "git-download"] }
    public func substituteURLs() throws -> [String] { [] }
    public var trustedSubstituteURLs: [String] { [] }
    public func syncWithGC() throws {}
    /// Buffers the file (bounded by `limit`) to hand it to `addToStore` as a NAR; stores that
    /// can take the bytes as they come override this.
    public func addFlatToStore(name: String, algorithm: HashAlgorithm, references: [StorePath], repair: Bool,
                               contents: ByteSource, limit: Int) throws -> PathInfoRecord {
        let bytes = try contents.readAll(limit: limit)
        return try addToStore(name: name, method: .fixed(.flat, algorithm), references: references, repair: repair,
                              source: MemoryStream(input: NarEncoding.regularFile(bytes)))
    }
    public func ensurePath(_ path: StorePath, log: ActivityLog) throws {
        guard try isValidPath(path) else { throw StoreServiceError("path '\(path.baseName)' is not valid and cannot be substituted (substitutes are not built yet)") }
    }
    public func buildPaths(_ paths: [DerivedPath], mode: UInt64, log: ActivityLog) throws { throw StoreServiceError.notBuiltYet("building") }
    public func buildPathsWithResults(_ paths: [DerivedPath], mode: UInt64, log: ActivityLog) throws -> [(DerivedPath, BuildResult)] {
        throw StoreServiceError.notBuiltYet("building")
    }
    public func buildDerivation(_ drvPath: StorePath, _ derivation: WireDerivation, mode: UInt64, log: ActivityLog) throws -> BuildResult {
        throw StoreServiceError.notBuiltYet("building")
    }
    public func addBuildLog(_ drvPath: StorePath, source: ByteSource) throws { throw StoreServiceError.notBuiltYet("build logs") }
}

/// What an ImportPaths item must carry before it is installed (guix-daemon.md §7.4,
/// formats.md §3.5).
public enum ImportPolicy: Sendable, Equatable {
    /// A trusted Nix client: the legacy signature is read and ignored (Nix 2.8).
    case unchecked
    /// The Guix dialect, trusted or not: a Guix signature by a key in the ACL over the item.
    case guixSignature
    /// An untrusted Nix client: Nix wants a narinfo-style signature, which no export item
    /// carries (and the schema-7 database cannot hold), so every item is refused as Nix 2.8 does.
    case nixSignature

    /// Throws the refusal for `trailer` under this policy; `authorizedKeys` is asked only when
    /// a Guix signature has to be checked.
    public func check(_ trailer: ExportTrailer, _ context: StoreContext,
                      authorizedKeys: () throws -> [GuixPublicKey]) throws {
        switch self {
        case .unchecked:
            return
        case .nixSignature:
            throw StoreServiceError("cannot add path '\(context.render(trailer.storePath))' because it lacks a signature by a trusted key")
        case .guixSignature:
            guard let signature = trailer.signature else {
                throw FormatError.archiveRejected(.unsigned(storePath: context.render(trailer.storePath)))
            }
            guard let digest = trailer.signedDigest else {
                throw StoreServiceError("the signed digest of `\(context.render(trailer.storePath))' was not computed")
            }
            try ArchiveAuthentication.verify(signature, digest: digest, authorizedKeys: try authorizedKeys())
        }
    }
}
