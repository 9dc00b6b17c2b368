import Testing
import StoreFormats
@testable import WorkerProtocol

/// A client speaking 0x164 as guix/store.scm does (formats.md §6.9, §6.11): handshake without
/// a version string, 9-field SetOptions, old AddToStore with a raw NAR, AddTextToStore for
/// `.drv`s, message+status errors, ops 80/81.
@Suite(.tags(.medium)) struct GuixDialectTests {
    @Test func guixClientSession() throws {
        let service = MemoryStoreService(storeDirectory: .guix)
        let (_, end) = try withSession(service: service, store: .guix) { stream in
            let c = try WorkerClient(stream: stream, version: .guix, storeDirectory: .guix, options: .guixDefault)
            #expect(c.negotiated.dialect == .guix)
            #expect(c.daemonVersionText == nil)
            #expect(service.settings.contains(ClientOptions.Setting("build-cores", "0")))

            let text = try c.addTextToStore(name: "hello.drv", text: Array("Derive([])".utf8))
            #expect(text.name == "hello.drv")
            let rec = try c.addToStore(name: "tree", method: .fixed(.recursive, .sha256), nar: narOfFile("hi\n"))
            let flat = try c.addToStore(name: "file", method: .fixed(.flat, .sha256), nar: narOfFile("hi\n"))
            // Same object, same path as StoreFormats computes.
            #expect(rec == (try StoreDirectory.guix.makeFixedOutputPath(method: .recursive, hash: Hasher.hash(.sha256, narOfFile("hi\n")), name: "tree")))
            #expect(flat == (try StoreDirectory.guix.makeFixedOutputPath(method: .flat, hash: Hasher.hash(.sha256, Array("hi\n".utf8)), name: "file")))
            #expect(try c.isValidPath(rec))

            // Guix QueryPathInfo: pre-1.16 record, error for an invalid path.
            let info = try #require(try c.queryPathInfo(rec))
            #expect(info.narSize == UInt64(narOfFile("hi\n").count) && info.signatures.isEmpty)
            let missing = try StorePath(baseName: "00000000000000000000000000000000-x")
            #expect(throws: WorkerProtocolError.self) { try c.queryPathInfo(missing) }

            // valid-path? recovery: a bad path is an error, and the connection stays usable.
            let bad = try c.call(.queryPathFromHashPart("nothing")) // a harmless op first
            #expect(bad == .string(""))
            try c.writer.writeU64(Opcode.isValidPath.rawValue); try c.writer.writeString("/gnu/store/notvalid"); try c.writer.flush()
            #expect(throws: WorkerProtocolError.self) { _ = try StderrMessage.decodeUntilLast(c) }
            #expect(try c.isValidPath(rec))

            #expect(try c.strings(.builtinBuilders) == ["download", "git-download"])
            #expect(try c.strings(.substituteURLs) == [])
            #expect(try c.strings(.queryValidPaths([rec, missing], substitute: false)) == [StoreContext.guix.render(rec)])
            #expect(try c.strings(.queryReferences(rec)) == [])

            // Export then import: Guix always demands a signature, even from a trusted client.
            // The daemon sends the item alone (NAR first); the client frames it with 1 … 0.
            let export = BufferSink()
            _ = try c.call(.exportPath(rec, sign: false), dataSink: export)
            #expect(Array(export.bytes.prefix(21)) == [13, 0, 0, 0, 0, 0, 0, 0] + Array("nix-archive-1".utf8))
            #expect(Array(export.bytes.suffix(8)) == [0, 0, 0, 0, 0, 0, 0, 0])
            let stream = [1, 0, 0, 0, 0, 0, 0, 0] + export.bytes + [0, 0, 0, 0, 0, 0, 0, 0]
            #expect(throws: WorkerProtocolError.remote(message: "imported archive of `\(StoreContext.guix.render(rec))' lacks a signature", status: 1)) {
                try c.call(.importPaths, dataSource: MemoryStream(input: stream))
            }
            // Signing needs a key; this store has none.
            #expect(throws: WorkerProtocolError.remote(message: "this store has no signing key", status: 1)) {
                try c.call(.exportPath(rec, sign: true), dataSink: BufferSink())
            }

            // Trust matrix: ignoreLiveness is refused even for trusted clients.
            #expect(throws: WorkerProtocolError.remote(message: "you are not allowed to ignore liveness", status: 1)) {
                try c.call(.collectGarbage(action: 1, paths: [], ignoreLiveness: true, maxFreed: .max))
            }
            #expect(try c.call(.collectGarbage(action: 1, paths: [], ignoreLiveness: false, maxFreed: .max)) == .collectGarbage(paths: [], bytesFreed: 0))
            // Ops that Guix lacks are unknown there: error, then the daemon closes.
            #expect(throws: WorkerProtocolError.remote(message: "invalid operation 38", status: 1)) { try c.call(.narFromPath(rec)) }
        }
        #expect(end == .failed("invalid operation 38"))
    }

    /// guix/store.scm's export-paths with sign? #t into one store, import-paths into another:
    /// accepted with the signer's key in the second store's ACL, refused otherwise, and a
    /// tampered item is refused with nothing registered.
    @Test func signedExportImportBetweenStores() throws {
        let pair = try GuixKeyPair.generate()
        let source = MemoryStoreService(storeDirectory: .guix)
        source.signingKeys = pair
        let (archive, order): ([UInt8], [StorePath]) = try withSession(service: source, store: .guix) { stream in
            let c = try WorkerClient(stream: stream, version: .guix, storeDirectory: .guix, options: .guixDefault)
            let dep = try c.addTextToStore(name: "dep", text: Array("dependency\n".utf8))
            let top = try c.addTextToStore(name: "top", text: Array("uses \(StoreContext.guix.render(dep))\n".utf8), references: [dep])
            var bytes: [UInt8] = []
            for p in [dep, top] {
                let sink = BufferSink()
                #expect(try c.call(.exportPath(p, sign: true), dataSink: sink) == .int(1))
                bytes += [1, 0, 0, 0, 0, 0, 0, 0] + sink.bytes
            }
            return (bytes + [0, 0, 0, 0, 0, 0, 0, 0], [dep, top])
        }.0
        let paths = try source.queryAllValidPaths()

        func importInto(_ target: MemoryStoreService, _ bytes: [UInt8]) throws -> WorkerReply {
            try withSession(service: target, store: .guix) { stream in
                let c = try WorkerClient(stream: stream, version: .guix, storeDirectory: .guix, options: .guixDefault)
                return try c.call(.importPaths, dataSource: MemoryStream(input: bytes, maxReadSize: 97))
            }.0
        }
        let authorised = MemoryStoreService(storeDirectory: .guix)
        authorised.authorizedKeys = [pair.publicKey]
        let reply = try importInto(authorised, archive)
        // The reply lists the items in import order (a list, not a set).
        #expect(reply == .strings(order.map(StoreContext.guix.render)))
        #expect(try authorised.queryAllValidPaths() == paths)
        #expect(authorised.nars == source.nars)

        let stranger = MemoryStoreService(storeDirectory: .guix)
        stranger.authorizedKeys = [try GuixKeyPair.generate().publicKey]
        let unauthorized = "unauthorized public key: " + String(decoding: try pair.publicKey.sexp.advancedForm(), as: UTF8.self)
        #expect(throws: WorkerProtocolError.remote(message: unauthorized, status: 1)) { try importInto(stranger, archive) }
        #expect(try stranger.queryAllValidPaths().isEmpty)

        // One byte of the first item's file contents changed ("dependency" -> "dependencY").
        var tampered = archive
        let at = try #require((0..<(tampered.count - 10)).first { tampered[$0..<$0 + 10].elementsEqual(Array("dependency".utf8)) })
        tampered[at + 9] = UInt8(ascii: "Y")
        let fresh = MemoryStoreService(storeDirectory: .guix)
        fresh.authorizedKeys = [pair.publicKey]
        #expect(throws: WorkerProtocolError.remote(message: ArchiveRejection.hashMismatch.description, status: 1)) { try importInto(fresh, tampered) }
        #expect(try fresh.queryAllValidPaths().isEmpty)
    }

    @Test func untrustedGuixClient() throws {
        let service = MemoryStoreService(storeDirectory: .guix)
        let options = ClientOptions(integers: ClientOptions.guixDefault.integers,
                                    overrides: [.init("build-cores", "2"), .init("substitute-urls", "http://evil"), .init("build-users-group", "x")])
        _ = try withSession(service: service, client: ClientIdentity(uid: 1000, trusted: false), store: .guix) { stream in
            let c = try WorkerClient(stream: stream, version: .guix, storeDirectory: .guix, options: options)
            #expect(service.settings == [.init("build-cores", "2"), .init("untrusted-substitute-urls", "http://evil"), .init("untrusted-build-users-group", "x")])
            #expect(throws: WorkerProtocolError.remote(message: "you are not privileged to repair paths", status: 1)) {
                try c.call(.verifyStore(checkContents: false, repair: true))
            }
            #expect(throws: WorkerProtocolError.remote(message: "repairing is a privileged operation", status: 1)) {
                try c.call(.buildPaths([], mode: 1))
            }
            #expect(try c.call(.verifyStore(checkContents: true, repair: false)) == .int(0))
        }
    }
}

extension StderrMessage {
    /// Reads messages up to LAST (returned) or ERROR (thrown).
    static func decodeUntilLast(_ c: WorkerClient) throws -> StderrMessage {
        while true {
            switch try StderrMessage.decode(from: c.reader, c.negotiated) {
            case .last: return .last
            case .error(let r): throw WorkerProtocolError.remote(message: r.message, status: r.status)
            default: continue
            }
        }
    }
}
