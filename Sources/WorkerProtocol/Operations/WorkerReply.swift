import StoreFormats

/// The reply that follows `STDERR_LAST` (formats.md §6.6, reply column), by shape. Store paths
/// in replies travel as strings; the client parses what it needs.
public enum WorkerReply: Hashable, Sendable {
    /// SetOptions, AddToStoreNar, AddMultipleToStore: nothing after `LAST`.
    case nothing
    /// A u64: booleans, the "1" success marker, VerifyStore's errorsRemain.
    case int(UInt64)
    case string(String)
    case strings([String])
    /// QueryPathInfo: nil = not valid (Nix >= 17 sends the flag; Guix sends an error instead).
    case pathInfo(PathInfoRecord?)
    /// AddToStore >= 25: the full record with path.
    case addedPathInfo(PathInfoRecord)
    /// FindRoots (link -> target), QueryDerivationOutputMap (output -> path).
    case pairs([StringPair])
    case collectGarbage(paths: [String], bytesFreed: UInt64)
    case substitutablePathInfo(SubstitutableInfo?)
    case substitutablePathInfos([SubstitutableInfo])
    case missing(willBuild: [String], willSubstitute: [String], unknown: [String], downloadSize: UInt64, narSize: UInt64)
    case buildResult(BuildResult)
    case buildResults([KeyedBuildResult])
    /// NarFromPath: the raw NAR after `LAST`.
    case nar([UInt8])

    /// Copies a source to a sink until the source ends; returns the byte count.
    @discardableResult
    public static func copy(from source: ByteSource, to sink: ByteSink, chunkSize: Int = 1 << 16) throws(WorkerProtocolError) -> UInt64 {
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        var total: UInt64 = 0
        while true {
            let n = try withMutableBytes(&chunk) { (raw: UnsafeMutableRawBufferPointer) throws(WorkerProtocolError) -> Int in
                try source.read(into: raw)
            }
            if n == 0 { return total }
            try withBytes(chunk) { (raw: UnsafeRawBufferPointer) throws(WorkerProtocolError) in
                try sink.write(UnsafeRawBufferPointer(rebasing: raw[0..<n]))
            }
            total += UInt64(n)
        }
    }

    public struct StringPair: Hashable, Sendable {
        public var key: String
        public var value: String
        public init(_ key: String, _ value: String) { self.key = key; self.value = value }
    }

    public struct SubstitutableInfo: Hashable, Sendable {
        public var path: String
        public var deriver: String
        public var references: [String]
        public var downloadSize: UInt64
        public var narSize: UInt64
        public init(path: String, deriver: String = "", references: [String] = [], downloadSize: UInt64 = 0, narSize: UInt64 = 0) {
            self.path = path; self.deriver = deriver; self.references = references
            self.downloadSize = downloadSize; self.narSize = narSize
        }
    }

    public struct KeyedBuildResult: Hashable, Sendable {
        public var path: String
        public var result: BuildResult
        public init(_ path: String, _ result: BuildResult) { self.path = path; self.result = result }
    }

    public func encode(to w: WireWriter, _ v: Negotiated, _ ctx: StoreContext) throws(WorkerProtocolError) {
        switch self {
        case .nothing: break
        case .int(let n): try w.writeU64(n)
        case .string(let s): try w.writeString(s)
        case .strings(let list): try w.writeStrings(list)
        case .pathInfo(let info):
            if v.queryPathInfoHasValidFlag { try w.writeBool(info != nil) }
            if let info { try info.encode(to: w, v, ctx, withPath: false) }
        case .addedPathInfo(let info): try info.encode(to: w, v, ctx, withPath: true)
        case .pairs(let pairs):
            try w.writeU64(UInt64(pairs.count))
            for p in pairs { try w.writeString(p.key); try w.writeString(p.value) }
        case .collectGarbage(let paths, let freed):
            try w.writeStrings(paths); try w.writeU64(freed); try w.writeU64(0)
        case .substitutablePathInfo(let info):
            try w.writeBool(info != nil)
            if let info {
                try w.writeString(info.deriver); try w.writeStrings(info.references)
                try w.writeU64(info.downloadSize); try w.writeU64(info.narSize)
            }
        case .substitutablePathInfos(let infos):
            try w.writeU64(UInt64(infos.count))
            for info in infos {
                try w.writeString(info.path); try w.writeString(info.deriver); try w.writeStrings(info.references)
                try w.writeU64(info.downloadSize); try w.writeU64(info.narSize)
            }
        case .missing(let build, let substitute, let unknown, let download, let nar):
            try w.writeStrings(build); try w.writeStrings(substitute); try w.writeStrings(unknown)
            try w.writeU64(download); try w.writeU64(nar)
        case .buildResult(let result): try result.encode(to: w, v)
        case .buildResults(let results):
            try w.writeU64(UInt64(results.count))
            for r in results { try w.writeString(r.path); try r.result.encode(to: w, v) }
        case .nar(let bytes): try w.writeRaw(bytes)
        }
    }

    /// Reads the reply to `request` as a client would.
    public static func decode(for request: WorkerRequest, from r: WireReader, _ v: Negotiated, _ ctx: StoreContext) throws(WorkerProtocolError) -> WorkerReply {
        func strings() throws(WorkerProtocolError) -> [String] { try r.readStrings("reply") }
        func pairs() throws(WorkerProtocolError) -> [StringPair] {
            try r.readStringPairs("reply", countLimit: r.limits.pathCount).map { StringPair($0.0, $0.1) }
        }
        switch request {
        case .setOptions, .addToStoreNar, .addMultipleToStore:
            return .nothing
        case .isValidPath, .hasSubstitutes, .buildPaths, .ensurePath, .addTempRoot, .addIndirectRoot,
             .syncWithGC, .exportPath, .clearFailedPaths, .optimiseStore, .verifyStore, .addSignatures,
             .addBuildLog, .registerDrvOutput:
            return .int(try r.readU64())
        case .addToStore:
            return .addedPathInfo(try PathInfoRecord.decode(from: r, v, ctx, withPath: true))
        case .addToStoreLegacy, .addTextToStore, .queryPathHash, .queryDeriver, .queryPathFromHashPart:
            return .string(try r.readShortString("reply"))
        case .queryReferences, .queryReferrers, .queryDerivationOutputs, .queryAllValidPaths, .queryFailedPaths,
             .importPaths, .queryDerivationOutputNames, .queryValidPaths, .querySubstitutablePaths,
             .queryValidDerivers, .queryRealisation, .builtinBuilders, .substituteURLs:
            return .strings(try strings())
        case .findRoots, .queryDerivationOutputMap:
            return .pairs(try pairs())
        case .queryPathInfo(let path):
            if v.queryPathInfoHasValidFlag {
                let valid = try r.readBool("valid")
                if !valid { return .pathInfo(nil) }
            }
            return .pathInfo(try PathInfoRecord.decode(from: r, v, ctx, withPath: false, knownPath: path))
        case .collectGarbage:
            let paths = try strings()
            let freed = try r.readU64()
            _ = try r.readU64()
            return .collectGarbage(paths: paths, bytesFreed: freed)
        case .querySubstitutablePathInfo(let path):
            guard try r.readBool("found") else { return .substitutablePathInfo(nil) }
            let deriver = try r.readShortString("deriver")
            let refs = try strings()
            return .substitutablePathInfo(SubstitutableInfo(path: ctx.render(path), deriver: deriver, references: refs,
                                                            downloadSize: try r.readU64(), narSize: try r.readU64()))
        case .querySubstitutablePathInfos:
            let count = try r.readCount("infos", limit: r.limits.pathCount)
            var infos: [SubstitutableInfo] = []
            for _ in 0..<count {
                let path = try r.readShortString("path"), deriver = try r.readShortString("deriver")
                let refs = try strings()
                infos.append(SubstitutableInfo(path: path, deriver: deriver, references: refs, downloadSize: try r.readU64(), narSize: try r.readU64()))
            }
            return .substitutablePathInfos(infos)
        case .queryMissing:
            return .missing(willBuild: try strings(), willSubstitute: try strings(), unknown: try strings(),
                            downloadSize: try r.readU64(), narSize: try r.readU64())
        case .buildDerivation:
            return .buildResult(try BuildResult.decode(from: r, v))
        case .buildPathsWithResults:
            let count = try r.readCount("build results", limit: r.limits.pathCount)
            var results: [KeyedBuildResult] = []
            for _ in 0..<count { results.append(KeyedBuildResult(try r.readShortString("derived path"), try BuildResult.decode(from: r, v))) }
            return .buildResults(results)
        case .narFromPath:
            let sink = BufferSink(limit: Int(r.limits.longString))
            try copy(from: NarDelimiter(r), to: sink)
            return .nar(sink.bytes)
        }
    }
}
