import StoreFormats

/// A store held in memory: the `StoreService` of the fuzzer, the benchmarks and protocol
/// tests. Paths are computed as the real store computes them (formats.md §2.3, §2.4); NARs
/// are kept whole, so it is for small data only. GC deletes nothing (every path is live).
public final class MemoryStoreService: StoreService {
    public let storeDirectory: StoreDirectory
    public private(set) var infos: [StorePath: PathInfoRecord] = [:]
    public private(set) var nars: [StorePath: [UInt8]] = [:]
    public private(set) var tempRoots: Set<StorePath> = []
    public private(set) var indirectRoots: [String] = []
    public private(set) var settings: [ClientOptions.Setting] = []
    /// Largest NAR accepted.
    public var narLimit = 16 << 20
    /// The key ExportPath signs with when asked to (none: signing is refused).
    public var signingKeys: GuixKeyPair?
    /// The keys ImportPaths accepts Guix signatures from.
    public var authorizedKeys: [GuixPublicKey] = []

    public init(storeDirectory: StoreDirectory = .nix) { self.storeDirectory = storeDirectory }

    var context: StoreContext { StoreContext(storeDirectory: storeDirectory, rules: .nix) }

    /// Registers an object directly (tests and benchmarks).
    public func insert(_ info: PathInfoRecord, nar: [UInt8]) {
        infos[info.path] = info
        nars[info.path] = nar
    }

    public func setOptions(_ options: ClientOptions, settings: [ClientOptions.Setting]) throws { self.settings = settings }
    public func isValidPath(_ path: StorePath) throws -> Bool { infos[path] != nil }
    public func queryPathInfo(_ path: StorePath) throws -> PathInfoRecord? { infos[path] }
    public func queryReferrers(_ path: StorePath) throws -> [StorePath] {
        infos.values.filter { $0.references.contains(path) }.map(\.path).sorted()
    }
    public func queryValidDerivers(_ path: StorePath) throws -> [StorePath] {
        guard let d = infos[path]?.deriver, infos[d] != nil else { return [] }
        return [d]
    }
    public func queryDerivationOutputMap(_ drvPath: StorePath) throws -> [(String, StorePath?)] { [] }
    public func queryPathFromHashPart(_ hashPart: String) throws -> StorePath? { infos.keys.first { $0.hashPart == hashPart } }
    public func queryAllValidPaths() throws -> [StorePath] { infos.keys.sorted() }

    private func register(_ path: StorePath, nar: [UInt8], references: [StorePath], ca: String?) -> PathInfoRecord {
        if let existing = infos[path] { return existing }
        let info = PathInfoRecord(path: path, narHash: Hasher.hash(.sha256, nar), references: references.sorted(),
                                  registrationTime: 1, narSize: UInt64(nar.count), contentAddress: ca)
        insert(info, nar: nar)
        return info
    }

    public func addToStore(name: String, method: AddMethod, references: [StorePath], repair: Bool, source: ByteSource) throws -> PathInfoRecord {
        guard case .fixed(let ingestion, let algorithm) = method else { throw StoreServiceError("text objects go through AddTextToStore") }
        let nar = try source.readAll(limit: narLimit)
        let hash: Hash
        if ingestion == .recursive {
            hash = Hasher.hash(algorithm, nar)
        } else {
            let contents = try NarDelimiter(WireReader(MemoryStream(input: nar)), contentsOnly: true).readAll(limit: narLimit)
            hash = Hasher.hash(algorithm, contents)
        }
        let path = try storeDirectory.makeFixedOutputPath(method: ingestion, hash: hash, name: name, references: references)
        return register(path, nar: nar, references: references, ca: "fixed:\(ingestion.prefix)\(algorithm.rawValue):\(hash.nix32)")
    }

    public func addTextToStore(name: String, text: [UInt8], references: [StorePath], repair: Bool) throws -> StorePath {
        for r in references where infos[r] == nil { throw StoreServiceError(.invalidPath(context.render(r))) }
        let hash = Hasher.hash(.sha256, text)
        let path = try storeDirectory.makeTextPath(name: name, contentHash: hash, references: references)
        return register(path, nar: NarEncoding.regularFile(text), references: references, ca: "text:sha256:\(hash.nix32)").path
    }

    public func addToStoreNar(_ info: PathInfoRecord, source: ByteSource, repair: Bool, checkSignatures: Bool) throws {
        let nar = try source.readAll(limit: narLimit)
        if checkSignatures {
            guard let ca = info.contentAddress else {
                throw StoreServiceError("cannot add path '\(context.render(info.path))' because it lacks a signature by a trusted key")
            }
            try ContentAddressCheck.verify(ca, nar: nar, info: info, in: storeDirectory)
        }
        guard Hasher.hash(.sha256, nar) == info.narHash else { throw StoreServiceError("hash mismatch importing path '\(context.render(info.path))'") }
        var stored = info
        stored.narSize = UInt64(nar.count)
        insert(stored, nar: nar)
    }

    public func narFromPath(_ path: StorePath, to sink: ByteSink) throws {
        guard let nar = nars[path] else { throw StoreServiceError(.invalidPath(context.render(path))) }
        try sink.write(nar)
    }

    public func exportPath(_ path: StorePath, sign: Bool, to sink: ByteSink) throws {
        guard let nar = nars[path], let info = infos[path] else { throw StoreServiceError(.invalidPath(context.render(path))) }
        let hashing = HashingSink(sink)
        try hashing.write(nar)
        let w = WireWriter(hashing)
        try writeExportMetadata(ExportTrailer(storePath: path, references: info.references, deriver: info.deriver, signature: nil), to: w, context)
        try w.flush()
        var signature: [UInt8]?
        if sign {
            guard let signingKeys else { throw StoreServiceError("this store has no signing key") }
            signature = try signingKeys.sign(hashing.hasher.finish())
        }
        let tail = WireWriter(sink)
        try writeExportSignature(signature, to: tail)
        try tail.flush()
    }

    public func importPaths(_ stream: ExportStreamReader, policy: ImportPolicy) throws -> [StorePath] {
        var imported: [StorePath] = []
        while let nar = try stream.nextItem() {
            let bytes = try nar.readAll(limit: narLimit)
            let trailer = try stream.trailer()
            try policy.check(trailer, context) { authorizedKeys }
            _ = register(trailer.storePath, nar: bytes, references: trailer.references, ca: nil)
            imported.append(trailer.storePath)
        }
        return imported
    }

    public func addTempRoot(_ path: StorePath) throws { tempRoots.insert(path) }
    public func addIndirectRoot(_ path: String) throws { indirectRoots.append(path) }
    public func findRoots(censor: Bool) throws -> [(String, StorePath)] { [] }
    public func collectGarbage(_ request: GCRequest) throws -> GCResult { GCResult(paths: [], bytesFreed: 0) }
    public func verifyStore(checkContents: Bool, repair: Bool, log: ActivityLog) throws -> Bool {
        infos.contains { Hasher.hash(.sha256, nars[$0.key] ?? []) != $0.value.narHash }
    }
    public func optimiseStore(log: ActivityLog) throws {}
    public func addSignatures(_ path: StorePath, _ signatures: [String]) throws {
        guard infos[path] != nil else { throw StoreServiceError(.invalidPath(context.render(path))) }
        infos[path]!.signatures = Array(Set(infos[path]!.signatures + signatures)).sorted()
    }
    public func queryMissing(_ paths: [DerivedPath]) throws -> MissingPaths {
        var m = MissingPaths()
        for p in paths {
            switch p {
            case .opaque(let s): if infos[s] == nil { m.unknown.append(s) }
            case .built(let d, _): m.willBuild.append(d)
            }
        }
        return m
    }
}
