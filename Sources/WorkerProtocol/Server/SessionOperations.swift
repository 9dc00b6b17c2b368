import StoreFormats

/// One request, served: trust checks, the service call, the reply (formats.md §6.6).
extension ServerSession {
    func perform(_ request: WorkerRequest, _ v: Negotiated, _ ctx: StoreContext, _ log: ActivityLog) throws {
        let trusted = client.trusted
        func paths(_ list: [StorePath]) -> [String] { list.sorted().map(ctx.render) }
        func info(_ path: StorePath) throws -> PathInfoRecord {
            guard let info = try service.queryPathInfo(path) else { throw StoreServiceError(.invalidPath(ctx.render(path))) }
            return info
        }

        switch request {
        case .setOptions(let options):
            let (effective, settings, notes) = TrustPolicy.filter(options, client: client, dialect: v.dialect,
                                                                  daemonSubstituters: service.trustedSubstituteURLs)
            try serve(v) {
                // Nix 2.8 takes the verbosity first, so its notes on settings it did not take
                // are filtered by the new one (daemon.cc ClientSettings::apply).
                log.apply(options)
                for note in notes { try log.log(note.level, note.text) }
                try service.setOptions(effective, settings: settings)
                try reply(.nothing, v, ctx)
            }
        case .isValidPath(let p):
            try serve(v) { try reply(.int(try service.isValidPath(p) ? 1 : 0), v, ctx) }
        case .hasSubstitutes(let p):
            try serve(v) { try reply(.int(try service.querySubstitutablePaths([p]).isEmpty ? 0 : 1), v, ctx) }
        case .queryPathHash(let p):
            try serve(v) { try reply(.string(try info(p).narHash.base16), v, ctx) }
        case .queryReferences(let p):
            try serve(v) { try reply(.strings(paths(try info(p).references)), v, ctx) }
        case .queryReferrers(let p):
            try serve(v) { try reply(.strings(paths(try service.queryReferrers(p))), v, ctx) }
        case .queryDeriver(let p):
            try serve(v) { try reply(.string(try info(p).deriver.map(ctx.render) ?? ""), v, ctx) }
        case .queryValidDerivers(let p):
            try serve(v) { try reply(.strings(paths(try service.queryValidDerivers(p))), v, ctx) }
        case .queryDerivationOutputs(let p):
            try serve(v) { try reply(.strings(paths(try service.queryDerivationOutputMap(p).compactMap { $0.1 })), v, ctx) }
        case .queryDerivationOutputNames(let p):
            try serve(v) { try reply(.strings(try service.queryDerivationOutputMap(p).map { $0.0 }.sorted()), v, ctx) }
        case .queryDerivationOutputMap(let p):
            try serve(v) {
                let map = try service.queryDerivationOutputMap(p).sorted { $0.0 < $1.0 }
                try reply(.pairs(map.map { WorkerReply.StringPair($0.0, $0.1.map(ctx.render) ?? "") }), v, ctx)
            }
        case .queryPathFromHashPart(let hashPart):
            try serve(v) { try reply(.string(try service.queryPathFromHashPart(hashPart).map(ctx.render) ?? ""), v, ctx) }
        case .queryAllValidPaths:
            try serve(v) { try reply(.strings(paths(try service.queryAllValidPaths())), v, ctx) }
        case .queryValidPaths(let list, _):
            try serve(v) { try reply(.strings(paths(try service.queryValidPaths(list))), v, ctx) }
        case .querySubstitutablePaths(let list):
            try serve(v) { try reply(.strings(paths(try service.querySubstitutablePaths(list))), v, ctx) }
        case .querySubstitutablePathInfo(let p):
            try serve(v) { try reply(.substitutablePathInfo(try service.querySubstitutablePathInfos([p]).first), v, ctx) }
        case .querySubstitutablePathInfos(let items):
            try serve(v) { try reply(.substitutablePathInfos(try service.querySubstitutablePathInfos(items.map(\.path))), v, ctx) }
        case .queryPathInfo(let p):
            try serve(v) {
                let found = try service.queryPathInfo(p)
                // Guix and Nix < 17 have no validity flag: an invalid path is an error.
                if found == nil && !v.queryPathInfoHasValidFlag { throw StoreServiceError(.invalidPath(ctx.render(p))) }
                try reply(.pathInfo(found), v, ctx)
            }
        case .addTextToStore(let name, let text, let refs):
            try serve(v) { try reply(.string(ctx.render(try service.addTextToStore(name: name, text: text, references: refs, repair: false))), v, ctx) }
        case .addToStore(let name, let methodText, let refs, let repair):
            let framed = FramedSource(reader)
            let guarded = GuardedSource(framed)
            try serve(v, payload: guarded, drain: { () throws(WorkerProtocolError) in try framed.finish() }) {
                let method = try AddMethod(parsing: methodText)
                let added: PathInfoRecord
                if case .text = method {
                    let text = try guarded.readAll(limit: Int(reader.limits.longString))
                    let path = try service.addTextToStore(name: name, text: text, references: refs, repair: repair && trusted)
                    added = try info(path)
                } else if case .fixed(.flat, let algorithm) = method {
                    // Flat data arrives as the file's bytes, with no length up front: the
                    // service streams them (LocalStore) or buffers them within the limit.
                    added = try service.addFlatToStore(name: name, algorithm: algorithm, references: refs, repair: repair && trusted,
                                                       contents: guarded, limit: Int(reader.limits.longString))
                    try framed.finish()
                } else {
                    added = try service.addToStore(name: name, method: method, references: refs, repair: repair && trusted, source: guarded)
                    try framed.finish()
                }
                try reply(.addedPathInfo(added), v, ctx)
            }
        case .addToStoreLegacy(let name, let fixed, let recursive, let algorithmName):
            // `fixed == 0` means "sha256, recursive" whatever follows (Nix 2.8 daemon.cc).
            let isRecursive = !fixed || recursive
            let nar = NarDelimiter(reader)
            let guarded = GuardedSource(nar)
            // An inline NAR that breaks cannot be skipped: any failure closes the connection.
            try serve(v, payload: guarded, drain: { () throws(WorkerProtocolError) in try nar.finish() }) {
                guard let algorithm = HashAlgorithm(rawValue: fixed ? algorithmName : "sha256") else {
                    throw WorkerProtocolError.invalidValue(field: "hash algorithm", text: algorithmName, reason: "unknown")
                }
                let added = try service.addToStore(name: name, method: .fixed(isRecursive ? .recursive : .flat, algorithm),
                                                   references: [], repair: false, source: guarded)
                try nar.finish()
                try reply(.string(ctx.render(added.path)), v, ctx)
            }
        case .addToStoreNar(var record, let repair, let dontCheckSigs):
            if !trusted { record.ultimate = false }
            let (source, drain) = narPayload(v)
            let guarded = GuardedSource(source)
            try serve(v, payload: guarded, drain: drain) {
                try service.addToStoreNar(record, source: guarded, repair: repair && trusted, checkSignatures: !(dontCheckSigs && trusted))
                try drain()
                try reply(.nothing, v, ctx)
            }
        case .addMultipleToStore(let repair, let dontCheckSigs):
            let framed = FramedSource(reader)
            let guarded = GuardedSource(framed)
            try serve(v, payload: guarded, drain: { () throws(WorkerProtocolError) in try framed.finish() }) {
                let inner = WireReader(guarded, limits: reader.limits)
                let count = try inner.readCount("paths", limit: reader.limits.pathCount)
                for _ in 0..<count {
                    var record = try PathInfoRecord.decode(from: inner, v, ctx, withPath: true)
                    record.ultimate = false
                    let nar = NarDelimiter(inner)
                    try service.addToStoreNar(record, source: nar, repair: repair && trusted, checkSignatures: !(dontCheckSigs && trusted))
                    try nar.finish()
                }
                try framed.finish()
                try reply(.nothing, v, ctx)
            }
        case .narFromPath(let p):
            try serve(v) {
                _ = try info(p)
                try StderrMessage.last.encode(to: writer, v)
                // After LAST the NAR goes out raw; a failure now leaves the client mid-NAR.
                do { try service.narFromPath(p, to: RawSink(writer)) } catch { throw SessionFault(error: error) }
            }
        case .exportPath(let p, let sign):
            try serve(v) {
                // guix-daemon's exportPath announces the item at lvlInfo, before anything else;
                // Nix 2.8 says nothing.
                if v.isGuix { try log.log(.info, "exporting path `\(ctx.render(p))'") }
                _ = try info(p)
                // The item only: NAR … signature. The `1` before it and the `0` after the last
                // item are the client's to write (guix/store.scm `export-paths`, Nix exportPaths).
                let sink = TunnelSink(writer: writer)
                // Nix 2.8 reads the sign word and ignores it (daemon.cc wopExportPath: "obsolete"),
                // so its items never carry a signature; guix-daemon signs when asked.
                try service.exportPath(p, sign: sign && v.isGuix, to: sink)
                try reply(.int(1), v, ctx)
            }
        case .importPaths:
            let tunnel = TunnelSource(reader: reader, writer: writer)
            let guarded = GuardedSource(tunnel)
            try serve(v, payload: guarded) {
                let stream = ExportStreamReader(WireReader(guarded, limits: reader.limits), ctx)
                // Guix always requires a signature, even from trusted clients (guix-daemon.md
                // §7.4); Nix checks (narinfo-style) signatures of untrusted clients only.
                let policy: ImportPolicy = v.isGuix ? .guixSignature : trusted ? .unchecked : .nixSignature
                let imported = try service.importPaths(stream, policy: policy)
                // In import order, as both daemons reply (a list, not a set).
                try reply(.strings(imported.map(ctx.render)), v, ctx)
            }
        case .addTempRoot(let p):
            try serve(v) { try service.addTempRoot(p); try reply(.int(1), v, ctx) }
        case .addIndirectRoot(let path):
            try serve(v) {
                // Both daemons take the text through `absPath` (relative to the worker's working
                // directory, `/` under a service manager) and `canonPath`: the link's name under
                // gcroots/auto is the hash of that text.
                try service.addIndirectRoot(PathText.absolute(path, in: "/"))
                try reply(.int(1), v, ctx)
            }
        case .syncWithGC:
            try serve(v) { try service.syncWithGC(); try reply(.int(1), v, ctx) }
        case .findRoots:
            try serve(v) {
                let roots = try service.findRoots(censor: !trusted && v.dialect == .nix)
                try reply(.pairs(roots.map { WorkerReply.StringPair($0.0, ctx.render($0.1)) }), v, ctx)
            }
        case .collectGarbage(let action, let list, let ignoreLiveness, let maxFreed):
            try serve(v) {
                if client.remote { throw TrustPolicy.remoteGCRefused }
                if ignoreLiveness { throw TrustPolicy.ignoreLivenessRefused }
                guard let kind = GCRequest.Action(rawValue: action) else { throw StoreServiceError("unknown garbage collector action \(action)") }
                let result = try service.collectGarbage(GCRequest(action: kind, paths: list, maxFreed: maxFreed))
                try reply(.collectGarbage(paths: result.paths, bytesFreed: result.bytesFreed), v, ctx)
            }
        case .verifyStore(let checkContents, let repair):
            try serve(v) {
                if repair && !trusted { throw TrustPolicy.verifyRepairRefused }
                try reply(.int(try service.verifyStore(checkContents: checkContents, repair: repair, log: log) ? 1 : 0), v, ctx)
            }
        case .optimiseStore:
            try serve(v) { try service.optimiseStore(log: log); try reply(.int(1), v, ctx) }
        case .addSignatures(let p, let sigs):
            try serve(v) {
                if !trusted { throw TrustPolicy.addSignaturesRefused }
                try service.addSignatures(p, sigs)
                try reply(.int(1), v, ctx)
            }
        case .ensurePath(let p):
            try serve(v) { try service.ensurePath(p, log: log); try reply(.int(1), v, ctx) }
        case .buildPaths(let list, let mode):
            try serve(v) {
                if mode == 1 && !trusted { throw TrustPolicy.repairRefused }
                try service.buildPaths(list, mode: mode, log: log)
                try reply(.int(1), v, ctx)
            }
        case .buildPathsWithResults(let list, let mode):
            try serve(v) {
                if mode == 1 && !trusted { throw TrustPolicy.repairRefused }
                let results = try service.buildPathsWithResults(list, mode: mode, log: log)
                try reply(.buildResults(results.map { WorkerReply.KeyedBuildResult($0.0.render(ctx), $0.1) }), v, ctx)
            }
        case .buildDerivation(let drvPath, let drv, let mode):
            try serve(v) {
                if !trusted && !drv.isFixedOutput { throw TrustPolicy.inputAddressedBuildRefused }
                if mode == 1 && !trusted { throw TrustPolicy.repairRefused }
                try reply(.buildResult(try service.buildDerivation(drvPath, drv, mode: mode, log: log)), v, ctx)
            }
        case .queryMissing(let list):
            try serve(v) {
                // Nix's Store::queryMissing runs inside this debug-level activity (misc.cc).
                let m = try log.within(.unknown, level: .debug, text: "querying info about missing paths") { _ in try service.queryMissing(list) }
                try reply(.missing(willBuild: paths(m.willBuild), willSubstitute: paths(m.willSubstitute), unknown: paths(m.unknown),
                                   downloadSize: m.downloadSize, narSize: m.narSize), v, ctx)
            }
        case .addBuildLog(let drv):
            let framed = FramedSource(reader)
            let guarded = GuardedSource(framed)
            try serve(v, payload: guarded, drain: { () throws(WorkerProtocolError) in try framed.finish() }) {
                if !trusted { throw TrustPolicy.addBuildLogRefused }
                try service.addBuildLog(drv, source: guarded)
                try framed.finish()
                try reply(.int(1), v, ctx)
            }
        case .registerDrvOutput, .queryRealisation:
            try serve(v) { throw StoreServiceError("content-addressed derivations (realisations) are not supported by this daemon") }
        case .queryFailedPaths:
            try serve(v) { try reply(.strings(paths(try service.queryFailedPaths())), v, ctx) }
        case .clearFailedPaths(let list):
            try serve(v) { try service.clearFailedPaths(list); try reply(.int(1), v, ctx) }
        case .builtinBuilders:
            try serve(v) { try reply(.strings(try service.builtinBuilders()), v, ctx) }
        case .substituteURLs:
            try serve(v) { try reply(.strings(try service.substituteURLs()), v, ctx) }
        }
    }

    /// AddToStoreNar's NAR: framed (>= 23), pulled with STDERR_READ (21, 22) or inline (< 21).
    private func narPayload(_ v: Negotiated) -> (ByteSource, () throws(WorkerProtocolError) -> Void) {
        if v.addToStoreNarIsFramed {
            let framed = FramedSource(reader)
            return (framed, { () throws(WorkerProtocolError) in try framed.finish() })
        }
        if v.addToStoreNarUsesRead {
            let nar = NarDelimiter(WireReader(TunnelSource(reader: reader, writer: writer), limits: reader.limits))
            return (nar, { () throws(WorkerProtocolError) in try nar.finish() })
        }
        let nar = NarDelimiter(reader)
        return (nar, { () throws(WorkerProtocolError) in try nar.finish() })
    }
}

/// Writes bytes straight to the connection (NarFromPath's reply).
final class RawSink: ByteSink {
    let writer: WireWriter
    init(_ writer: WireWriter) { self.writer = writer }
    func write(_ bytes: UnsafeRawBufferPointer) throws(WorkerProtocolError) { try writer.writeRaw(bytes) }
}
