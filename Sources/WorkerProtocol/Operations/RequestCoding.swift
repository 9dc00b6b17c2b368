import StoreFormats

/// Decoding and encoding of request arguments per dialect and version (formats.md §6.6,
/// guix-daemon.md §7.4). The decoder is what the server runs on untrusted bytes: every
/// string and list is bounded by the reader's `WireLimits`.
extension WorkerRequest {
    public var opcode: Opcode {
        switch self {
        case .isValidPath: .isValidPath
        case .hasSubstitutes: .hasSubstitutes
        case .queryPathHash: .queryPathHash
        case .queryReferences: .queryReferences
        case .queryReferrers: .queryReferrers
        case .addToStore, .addToStoreLegacy: .addToStore
        case .addTextToStore: .addTextToStore
        case .buildPaths: .buildPaths
        case .ensurePath: .ensurePath
        case .addTempRoot: .addTempRoot
        case .addIndirectRoot: .addIndirectRoot
        case .syncWithGC: .syncWithGC
        case .findRoots: .findRoots
        case .exportPath: .exportPath
        case .queryDeriver: .queryDeriver
        case .setOptions: .setOptions
        case .collectGarbage: .collectGarbage
        case .querySubstitutablePathInfo: .querySubstitutablePathInfo
        case .queryDerivationOutputs: .queryDerivationOutputs
        case .queryAllValidPaths: .queryAllValidPaths
        case .queryFailedPaths: .queryFailedPaths
        case .clearFailedPaths: .clearFailedPaths
        case .queryPathInfo: .queryPathInfo
        case .importPaths: .importPaths
        case .queryDerivationOutputNames: .queryDerivationOutputNames
        case .queryPathFromHashPart: .queryPathFromHashPart
        case .querySubstitutablePathInfos: .querySubstitutablePathInfos
        case .queryValidPaths: .queryValidPaths
        case .querySubstitutablePaths: .querySubstitutablePaths
        case .queryValidDerivers: .queryValidDerivers
        case .optimiseStore: .optimiseStore
        case .verifyStore: .verifyStore
        case .buildDerivation: .buildDerivation
        case .addSignatures: .addSignatures
        case .narFromPath: .narFromPath
        case .addToStoreNar: .addToStoreNar
        case .queryMissing: .queryMissing
        case .queryDerivationOutputMap: .queryDerivationOutputMap
        case .registerDrvOutput: .registerDrvOutput
        case .queryRealisation: .queryRealisation
        case .addMultipleToStore: .addMultipleToStore
        case .addBuildLog: .addBuildLog
        case .buildPathsWithResults: .buildPathsWithResults
        case .builtinBuilders: .builtinBuilders
        case .substituteURLs: .substituteURLs
        }
    }

    /// Reads an op code and its arguments. Returns nil at a clean end of stream between ops.
    public static func decode(from r: WireReader, _ v: Negotiated, _ ctx: StoreContext) throws(WorkerProtocolError) -> WorkerRequest? {
        if try r.atEnd() { return nil }
        let raw = try r.readU64()
        guard let op = Opcode(rawValue: raw), op.exists(in: v.dialect) else { throw .unknownOperation(raw) }
        return try decodeArguments(of: op, from: r, v, ctx)
    }

    public static func decodeArguments(of op: Opcode, from r: WireReader, _ v: Negotiated, _ ctx: StoreContext) throws(WorkerProtocolError) -> WorkerRequest {
        func path() throws(WorkerProtocolError) -> StorePath { try r.readStorePath(ctx) }
        switch op {
        case .isValidPath: return .isValidPath(try path())
        case .hasSubstitutes: return .hasSubstitutes(try path())
        case .queryPathHash: return .queryPathHash(try path())
        case .queryReferences: return .queryReferences(try path())
        case .queryReferrers: return .queryReferrers(try path())
        case .addToStore:
            if v.addToStoreIsFramed {
                let name = try r.readShortString("name")
                let method = try r.readShortString("method")
                let refs = try r.readStorePaths(ctx, "references")
                return .addToStore(name: name, method: method, references: refs, repair: try r.readBool("repair"))
            }
            let name = try r.readShortString("name")
            let fixed = try r.readBool("fixed")
            let recursive = try r.readBool("recursive")
            return .addToStoreLegacy(name: name, fixed: fixed, recursive: recursive, algorithm: try r.readShortString("hash algorithm"))
        case .addTextToStore:
            let name = try r.readShortString("name")
            let text = try r.readByteString("text", limit: r.limits.longString)
            return .addTextToStore(name: name, text: text, references: try r.readStorePaths(ctx, "references"))
        case .buildPaths:
            let paths = try r.readDerivedPaths(ctx)
            return .buildPaths(paths, mode: v.buildPathsHasMode ? try r.readInt("build mode") : 0)
        case .ensurePath: return .ensurePath(try path())
        case .addTempRoot: return .addTempRoot(try path())
        case .addIndirectRoot: return .addIndirectRoot(try r.readShortString("root path"))
        case .syncWithGC: return .syncWithGC
        case .findRoots: return .findRoots
        case .exportPath: return .exportPath(try path(), sign: try r.readBool("sign"))
        case .queryDeriver: return .queryDeriver(try path())
        case .setOptions: return .setOptions(try ClientOptions.decode(from: r, v))
        case .collectGarbage:
            let action = try r.readInt("GC action")
            let paths = try r.readStorePaths(ctx, "paths to delete")
            let ignore = try r.readBool("ignoreLiveness")
            let maxFreed = try r.readU64()
            // Three obsolete words (Guix: one, then two more for minor >= 5; Nix always three).
            _ = try r.readU64()
            if v.minor >= 5 { _ = try r.readU64(); _ = try r.readU64() }
            return .collectGarbage(action: action, paths: paths, ignoreLiveness: ignore, maxFreed: maxFreed)
        case .querySubstitutablePathInfo: return .querySubstitutablePathInfo(try path())
        case .queryDerivationOutputs: return .queryDerivationOutputs(try path())
        case .queryAllValidPaths: return .queryAllValidPaths
        case .queryFailedPaths: return .queryFailedPaths
        case .clearFailedPaths: return .clearFailedPaths(try r.readStorePaths(ctx))
        case .queryPathInfo: return .queryPathInfo(try path())
        case .importPaths: return .importPaths
        case .queryDerivationOutputNames: return .queryDerivationOutputNames(try path())
        case .queryPathFromHashPart: return .queryPathFromHashPart(try r.readShortString("hash part"))
        case .querySubstitutablePathInfos:
            if v.substitutablePathInfosTakesMap {
                let count = try r.readCount("paths", limit: r.limits.pathCount)
                var items: [PathAndCA] = []
                for _ in 0..<count { items.append(PathAndCA(try path(), try r.readShortString("ca"))) }
                return .querySubstitutablePathInfos(items)
            }
            return .querySubstitutablePathInfos(try r.readStorePaths(ctx).map { PathAndCA($0) })
        case .queryValidPaths:
            let paths = try r.readStorePaths(ctx)
            return .queryValidPaths(paths, substitute: v.queryValidPathsHasSubstituteFlag ? try r.readBool("substitute") : false)
        case .querySubstitutablePaths: return .querySubstitutablePaths(try r.readStorePaths(ctx))
        case .queryValidDerivers: return .queryValidDerivers(try path())
        case .optimiseStore: return .optimiseStore
        case .verifyStore: return .verifyStore(checkContents: try r.readBool("checkContents"), repair: try r.readBool("repair"))
        case .buildDerivation:
            let drvPath = try path()
            let drv = try WireDerivation.decode(from: r, ctx)
            return .buildDerivation(drvPath, drv, mode: try r.readInt("build mode"))
        case .addSignatures:
            let p = try path()
            return .addSignatures(p, try r.readStrings("sigs", countLimit: r.limits.smallCount))
        case .narFromPath: return .narFromPath(try path())
        case .addToStoreNar:
            let info = try PathInfoRecord.decode(from: r, v, ctx, withPath: true)
            return .addToStoreNar(info, repair: try r.readBool("repair"), dontCheckSigs: try r.readBool("dontCheckSigs"))
        case .queryMissing: return .queryMissing(try r.readDerivedPaths(ctx))
        case .queryDerivationOutputMap: return .queryDerivationOutputMap(try path())
        case .registerDrvOutput:
            if v.minor >= 31 { return .registerDrvOutput(try r.readString("realisation", limit: r.limits.longString)) }
            let id = try r.readShortString("drv output")
            return .registerDrvOutput(id + " " + ctx.render(try path()))
        case .queryRealisation: return .queryRealisation(try r.readShortString("drv output"))
        case .addMultipleToStore:
            return .addMultipleToStore(repair: try r.readBool("repair"), dontCheckSigs: try r.readBool("dontCheckSigs"))
        case .addBuildLog:
            // The client sends the derivation's base name (Nix 2.8 daemon.cc wopAddBuildLog).
            let base = try r.readShortString("drv path")
            do { return .addBuildLog(try StorePath(baseName: base.split(separator: "/").last ?? "", rules: ctx.rules)) } catch { throw .format(error) }
        case .buildPathsWithResults:
            let paths = try r.readDerivedPaths(ctx)
            return .buildPathsWithResults(paths, mode: try r.readInt("build mode"))
        case .builtinBuilders: return .builtinBuilders
        case .substituteURLs: return .substituteURLs
        }
    }

    /// Writes the op code and arguments as a client would (payloads are the caller's).
    public func encode(to w: WireWriter, _ v: Negotiated, _ ctx: StoreContext) throws(WorkerProtocolError) {
        try w.writeU64(opcode.rawValue)
        switch self {
        case .isValidPath(let p), .hasSubstitutes(let p), .queryPathHash(let p), .queryReferences(let p),
             .queryReferrers(let p), .ensurePath(let p), .addTempRoot(let p), .queryDeriver(let p),
             .querySubstitutablePathInfo(let p), .queryDerivationOutputs(let p), .queryPathInfo(let p),
             .queryDerivationOutputNames(let p), .queryValidDerivers(let p), .narFromPath(let p),
             .queryDerivationOutputMap(let p):
            try w.writeStorePath(p, ctx)
        case .addToStore(let name, let method, let refs, let repair):
            try w.writeString(name); try w.writeString(method)
            try w.writeStorePathSet(refs, ctx); try w.writeBool(repair)
        case .addToStoreLegacy(let name, let fixed, let recursive, let algorithm):
            try w.writeString(name); try w.writeBool(fixed); try w.writeBool(recursive); try w.writeString(algorithm)
        case .addTextToStore(let name, let text, let refs):
            try w.writeString(name); try w.writeByteString(text); try w.writeStorePathSet(refs, ctx)
        case .buildPaths(let paths, let mode):
            try w.writeDerivedPaths(paths, ctx)
            if v.buildPathsHasMode { try w.writeU64(mode) }
        case .addIndirectRoot(let path): try w.writeString(path)
        case .syncWithGC, .findRoots, .queryAllValidPaths, .queryFailedPaths, .importPaths, .optimiseStore,
             .builtinBuilders, .substituteURLs:
            break
        case .exportPath(let p, let sign): try w.writeStorePath(p, ctx); try w.writeBool(sign)
        case .setOptions(let options): try options.encode(to: w, v)
        case .collectGarbage(let action, let paths, let ignore, let maxFreed):
            try w.writeU64(action); try w.writeStorePaths(paths, ctx); try w.writeBool(ignore); try w.writeU64(maxFreed)
            try w.writeU64(0)
            if v.minor >= 5 { try w.writeU64(0); try w.writeU64(0) }
        case .clearFailedPaths(let paths), .querySubstitutablePaths(let paths):
            try w.writeStorePathSet(paths, ctx)
        case .queryPathFromHashPart(let hashPart): try w.writeString(hashPart)
        case .querySubstitutablePathInfos(let items):
            if v.substitutablePathInfosTakesMap {
                let sorted = items.sorted { $0.path < $1.path }
                try w.writeU64(UInt64(sorted.count))
                for item in sorted { try w.writeStorePath(item.path, ctx); try w.writeString(item.contentAddress) }
            } else {
                try w.writeStorePathSet(items.map(\.path), ctx)
            }
        case .queryValidPaths(let paths, let substitute):
            try w.writeStorePathSet(paths, ctx)
            if v.queryValidPathsHasSubstituteFlag { try w.writeBool(substitute) }
        case .verifyStore(let check, let repair): try w.writeBool(check); try w.writeBool(repair)
        case .buildDerivation(let p, let drv, let mode):
            try w.writeStorePath(p, ctx); try drv.encode(to: w, ctx); try w.writeU64(mode)
        case .addSignatures(let p, let sigs): try w.writeStorePath(p, ctx); try w.writeStringSet(sigs)
        case .addToStoreNar(let info, let repair, let dontCheck):
            try info.encode(to: w, v, ctx, withPath: true); try w.writeBool(repair); try w.writeBool(dontCheck)
        case .queryMissing(let paths): try w.writeDerivedPaths(paths, ctx)
        case .registerDrvOutput(let text), .queryRealisation(let text): try w.writeString(text)
        case .addMultipleToStore(let repair, let dontCheck): try w.writeBool(repair); try w.writeBool(dontCheck)
        case .addBuildLog(let p): try w.writeString(p.baseName)
        case .buildPathsWithResults(let paths, let mode): try w.writeDerivedPaths(paths, ctx); try w.writeU64(mode)
        }
    }
}
