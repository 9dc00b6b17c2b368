/// `StoreService` over the LocalStore module: what one connection's operations do to the store.
/// Operations the store cannot do yet answer with a clear error saying so (see the list in
/// `unavailable`); nothing pretends to succeed.
import StoreFormats
import WorkerProtocol
import LocalStore
import LinuxSystem

public final class LocalStoreService: StoreService {
    public let store: LocalStore
    var context: StoreContext
    /// Effective client settings after SetOptions (untrusted names carry `untrusted-`).
    public private(set) var settings: [String: String] = [:]
    let substituteURLsOfDaemon: [String]
    /// The daemon's build settings with this session's client options applied
    /// (`LocalStoreService+Build.swift`).
    var buildSettings: BuilderSettings
    /// The session's activity log and dialect (set after the handshake).
    var activityLog: ActivityLog?
    /// Content addresses already worked out in this session (NixPathFields).
    var contentAddressMemo: [StorePath: ContentAddressMemo] = [:]
    struct ContentAddressMemo {
        let narHash: Hash
        let registrationTime: Int64
        let contentAddress: String?
    }
    /// Nix clients get Nix's messages, activities and path-info fields; Guix keeps guix-daemon's.
    var isNix: Bool { activityLog?.dialect == .nix }
    /// Client option `multiplexed-build-output` (Guix): builder output goes out prefixed by
    /// `@ build-log <pid> <length>`, so a client running several builds can tell them apart.
    var multiplexedBuildOutput: Bool

    public init(store: LocalStore, substituteURLs: [String] = [], configuration: DaemonConfiguration = DaemonConfiguration(),
                clientUID: UInt32? = nil, clientGID: UInt32? = nil) {
        self.store = store
        self.context = StoreContext(storeDirectory: store.storeDirectory, rules: .nix)
        self.substituteURLsOfDaemon = substituteURLs
        var settings = configuration.buildSettings
        settings.clientUID = clientUID.map(Int64.init) ?? -1
        settings.clientGID = clientGID.map(Int64.init) ?? -1
        self.buildSettings = settings
        self.multiplexedBuildOutput = configuration.multiplexedBuildOutput
    }

    static func unavailable(_ what: String) -> StoreServiceError {
        StoreServiceError("\(what) is not available in this daemon yet")
    }

    public func sessionStarted(_ log: ActivityLog) {
        activityLog = log
        if isNix {
            buildSettings.messageStyle = .nix
            buildSettings.systemFeatures = Self.nixSystemFeatures
        }
    }

    public func setOptions(_ options: ClientOptions, settings: [ClientOptions.Setting]) throws {
        for s in settings { self.settings[s.name] = s.value }
        applyBuildOptions(options, settings)
    }

    public func isValidPath(_ path: StorePath) throws -> Bool { try store.isValidPath(path) }

    public func queryPathInfo(_ path: StorePath) throws -> PathInfoRecord? {
        guard let info = try store.queryPathInfo(path) else { return nil }
        var record = PathInfoRecord(path: info.path, deriver: info.deriver, narHash: info.narHash, references: info.sortedReferences,
                                    registrationTime: UInt64(max(info.registrationTime, 0)), narSize: info.narSize)
        if isNix { try addNixFields(&record, info) }
        return record
    }

    public func queryReferrers(_ path: StorePath) throws -> [StorePath] { try store.queryReferrers(path) }
    public func queryValidDerivers(_ path: StorePath) throws -> [StorePath] { try store.queryValidDerivers(path) }
    public func queryDerivationOutputMap(_ drvPath: StorePath) throws -> [(String, StorePath?)] {
        try store.queryDerivationOutputs(drvPath).map { ($0.id, Optional($0.path)) }
    }
    public func queryPathFromHashPart(_ hashPart: String) throws -> StorePath? { try store.queryPathFromHashPart(hashPart) }
    public func queryAllValidPaths() throws -> [StorePath] { try store.queryAllValidPaths() }
    public func queryValidPaths(_ paths: [StorePath]) throws -> [StorePath] { Array(try store.queryValidPaths(paths)).sorted() }

    public func addToStore(name: String, method: AddMethod, references: [StorePath], repair: Bool, source: ByteSource) throws -> PathInfoRecord {
        guard case .fixed(let ingestion, let algorithm) = method else { throw StoreServiceError("text objects go through AddTextToStore") }
        let path = try store.addToStore(nar: SourceAdapter(source), name: name, method: ingestion, hashAlgorithm: algorithm,
                                        references: Set(references), repair: repair)
        guard var info = try queryPathInfo(path) else { throw StoreServiceError(.invalidPath(context.render(path))) }
        if ingestion == .recursive && algorithm == .sha256 { info.contentAddress = "fixed:r:sha256:" + info.narHash.nix32 }
        return info
    }

    public func addTextToStore(name: String, text: [UInt8], references: [StorePath], repair: Bool) throws -> StorePath {
        try store.addTextToStore(name: name, contents: text, references: Set(references), repair: repair)
    }

    public func addToStoreNar(_ info: PathInfoRecord, source: ByteSource, repair: Bool, checkSignatures: Bool) throws {
        let valid = ValidPathInfo(path: info.path, narHash: info.narHash, references: Set(info.references), deriver: info.deriver, narSize: info.narSize)
        guard checkSignatures else {
            let wasValid = try store.isValidPath(info.path)
            try store.addToStore(info: valid, nar: SourceAdapter(source), repair: repair)
            if info.contentAddress == nil { recordImportWithoutClaim(info.path, wasValid: wasValid) }
            return
        }
        // Signature verification needs the trusted-key store, which does not exist yet; a
        // correct content-address claim is the other way in (formats.md §6.6, op 39).
        guard let ca = info.contentAddress else {
            throw StoreServiceError("cannot add path '\(context.render(info.path))' because it lacks a signature by a trusted key")
        }
        // The claim can only be checked once the whole NAR is in: restore it to a temporary
        // object in the store (not memory), check, then install or drop it.
        let staged = try store.stage(nar: SourceAdapter(source))
        do {
            try ContentAddressCheck.verify(ca, info: info, in: store.storeDirectory) { algorithm, contentsOnly in
                try store.hash(of: staged, algorithm: algorithm, contentsOnly: contentsOnly)
            }
        } catch {
            store.discard(staged)
            throw error
        }
        try store.install(staged, as: valid, repair: repair)
    }

    public func addFlatToStore(name: String, algorithm: HashAlgorithm, references: [StorePath], repair: Bool,
                               contents: ByteSource, limit: Int) throws -> PathInfoRecord {
        let path = try store.addFlatToStore(contents: SourceAdapter(contents), name: name, hashAlgorithm: algorithm,
                                            references: Set(references), repair: repair)
        guard let info = try queryPathInfo(path) else { throw StoreServiceError(.invalidPath(context.render(path))) }
        return info
    }

    public func narFromPath(_ path: StorePath, to sink: ByteSink) throws {
        _ = try NARDumper.dump(path: context.render(path), to: SinkAdapter(sink))
    }

    /// One export item (formats.md §3.5). With `sign`, the key pair is loaded before any byte
    /// goes out, and the SHA-256 of NAR … deriver is signed as guix-daemon does.
    public func exportPath(_ path: StorePath, sign: Bool, to sink: ByteSink) throws {
        guard let info = try store.queryPathInfo(path) else { throw StoreServiceError(.invalidPath(context.render(path))) }
        let keys = sign ? try ArchiveKeys(layout: store.layout).signingKeyPair() : nil
        // Only a signed export needs the digest of NAR … deriver (one more SHA-256 pass).
        let hashing = HashingSink(sink)
        let out: ByteSink = keys == nil ? sink : hashing
        let narHasher = Hasher(.sha256)
        _ = try NARDumper.dump(path: context.render(path), to: TeeSink(sink: SinkAdapter(out), hasher: narHasher))
        // Refuse to spread a modified path (both daemons' exportPath).
        let actual = narHasher.finish()
        guard actual == info.narHash else {
            throw StoreServiceError(.contentsChanged(context.render(path), recorded: info.narHash, actual: actual))
        }
        let metadata = WireWriter(out)
        try writeExportMetadata(ExportTrailer(storePath: path, references: info.sortedReferences, deriver: info.deriver, signature: nil),
                                to: metadata, context)
        try metadata.flush()
        let signature = try keys?.sign(hashing.hasher.finish())
        let tail = WireWriter(sink)
        try writeExportSignature(signature, to: tail)
        try tail.flush()
    }

    /// Each item's NAR is restored to a temporary object in the store (constant memory) before
    /// its trailer names the path; it is installed only once the trailer passes `policy`.
    public func importPaths(_ stream: ExportStreamReader, policy: ImportPolicy) throws -> [StorePath] {
        var imported: [StorePath] = []
        var authorized: [GuixPublicKey]?
        let keys = ArchiveKeys(layout: store.layout)
        while let nar = try stream.nextItem() {
            let staged = try store.stage(nar: SourceAdapter(nar))
            let trailer: ExportTrailer
            do {
                trailer = try stream.trailer()
                try policy.check(trailer, context) {
                    if let authorized { return authorized }
                    let read = try keys.authorizedKeys()
                    authorized = read
                    return read
                }
            } catch {
                store.discard(staged)
                throw error
            }
            // guix-daemon records the deriver only if it is valid here; Nix keeps it as sent.
            var deriver = trailer.deriver
            if policy == .guixSignature, let d = deriver, !(try store.isValidPath(d)) { deriver = nil }
            let info = ValidPathInfo(path: trailer.storePath, narHash: staged.narHash, references: Set(trailer.references),
                                     deriver: deriver, narSize: staged.narSize)
            let wasValid = try store.isValidPath(info.path)
            try store.install(staged, as: info)
            recordImportWithoutClaim(info.path, wasValid: wasValid)
            imported.append(trailer.storePath)
        }
        return imported
    }

    public func addTempRoot(_ path: StorePath) throws { try store.addTempRoot(path) }

    public func addIndirectRoot(_ path: String) throws { try store.addIndirectRoot(path) }

    /// Guix: the permanent roots (gcroots, profiles, indirect roots), link -> target, by link.
    /// Nix 2.8 (gc.cc findRoots): those plus valid runtime roots and temp roots, by target then
    /// link; for an untrusted client (`censor`) the runtime and temp roots' links read
    /// `{censored}` (they name other users' processes).
    public func findRoots(censor: Bool) throws -> [(String, StorePath)] {
        let permanent = try store.findRoots().map { ($0.key, $0.value) }
        guard isNix else { return permanent.sorted { $0.0 < $1.0 } }
        var roots = Set(permanent.map { "\($0.1.baseName)\u{0}\($0.0)" })
        let hidden = store.findRuntimeRootLinks().filter { (try? store.isValidPath($0.path)) == true } + store.findTempRootLinks()
        for (link, path) in hidden { roots.insert("\(path.baseName)\u{0}\(censor ? "{censored}" : link)") }
        return roots.sorted().compactMap { entry in
            let parts = entry.split(separator: "\u{0}", maxSplits: 1).map(String.init)
            guard parts.count == 2, let path = try? StorePath(baseName: parts[0]) else { return nil }
            return (parts[1], path)
        }
    }

    public var trustedSubstituteURLs: [String] { substituteURLsOfDaemon }

    public func substituteURLs() throws -> [String] {
        if let urls = settings["untrusted-substitute-urls"] ?? settings["substitute-urls"] {
            return urls.split(separator: " ").map(String.init)
        }
        return substituteURLsOfDaemon
    }
}

/// The worker protocol's sources and sinks as LocalStore's NAR byte source / sink.
struct SourceAdapter: NARByteSource {
    let source: ByteSource
    init(_ source: ByteSource) { self.source = source }
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int { try source.read(into: buffer) }
}

/// Writes through to `sink` and hashes what passes.
struct TeeSink<Inner: NARSink>: NARSink {
    var sink: Inner
    let hasher: Hasher
    mutating func write(_ bytes: UnsafeRawBufferPointer) throws {
        try sink.write(bytes)
        hasher.update(bytes)
    }
}

struct SinkAdapter: NARSink {
    let sink: ByteSink
    init(_ sink: ByteSink) { self.sink = sink }
    mutating func write(_ bytes: UnsafeRawBufferPointer) throws { try sink.write(bytes) }
}
