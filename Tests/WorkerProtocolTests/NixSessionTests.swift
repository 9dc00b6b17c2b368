import Testing
import StoreFormats
@testable import WorkerProtocol

/// ServerSession in the Nix dialect against an in-memory store: framed adds, NarFromPath,
/// trust rules for untrusted clients, errors that keep or close the connection, limits.
@Suite(.tags(.medium)) struct NixSessionTests {
    @Test(arguments: [0x122, 0x118, 0x110] as [UInt64])
    func addQueryAndNarAcrossMinors(version: UInt64) throws {
        let service = MemoryStoreService()
        _ = try withSession(service: service) { stream in
            let c = try WorkerClient(stream: stream, version: ProtocolVersion(version), storeDirectory: .nix, options: .nixDefault())
            let nar = narOfFile("hello")
            let p = try c.addToStore(name: "hello.txt", method: .fixed(.recursive, .sha256), nar: nar)
            // The path Nix 2.8 gave in 001-add.json for the same NAR.
            #expect(p.baseName == "xfp2hphvk98rkk9ywlqpp587rjdcgnc2-hello.txt")
            let info = try #require(try c.queryPathInfo(p))
            #expect(info.narHash.base16 == "0a430879c266f8b57f4092a0f935cf3facd48bbccde5760d4748ca405171e969")
            if version >= 0x122 {
                #expect(info.contentAddress == "fixed:r:sha256:0sg9f58l1jj88w6pdrfdpj5x9b1zrwszk84j81zvby36q9whhhqa")
                #expect(try c.call(.narFromPath(p)) == .nar(nar))
                #expect(try c.call(.queryPathInfo(try StorePath(baseName: "00000000000000000000000000000000-x"))) == .pathInfo(nil))
            }
        }
    }

    /// Both daemons read an indirect root through `absPath` and `canonPath`: a relative one is
    /// taken from `/`, a messy one tidied (its text names the link under gcroots/auto).
    @Test(arguments: [true, false]) func indirectRootsAreMadeAbsoluteAndCanonical(guix: Bool) throws {
        let service = MemoryStoreService()
        _ = try withSession(service: service) { stream in
            let c = guix ? try WorkerClient(stream: stream, version: .guix, storeDirectory: .guix, options: .guixDefault)
                : try WorkerClient(stream: stream, storeDirectory: .nix, options: .nixDefault())
            for root in ["result", "/home/u//proj/./result/", "/home/u/a/../result"] {
                #expect(try c.call(.addIndirectRoot(root)) == .int(1))
            }
        }
        #expect(service.indirectRoots == ["/result", "/home/u/proj/result", "/home/u/result"])
    }

    @Test func untrustedNixClient() throws {
        let service = MemoryStoreService()
        _ = try withSession(service: service, client: ClientIdentity(uid: 1000, trusted: false)) { stream in
            var options = ClientOptions.nixDefault()
            options.overrides = [.init("timeout", "5"), .init("sandbox", "false")]
            var warnings: [String] = []
            let c = try WorkerClient(stream: stream, storeDirectory: .nix)
            c.onLog = { if case .next(let t) = $0 { warnings.append(String(decoding: t, as: UTF8.self)) } }
            _ = try c.call(.setOptions(options))
            #expect(service.settings == [.init("timeout", "5")])
            // Nix 2.8 notes the refused setting at debug level only (SessionLogTests).
            #expect(warnings.isEmpty)
            let p = try c.addTextToStore(name: "t", text: [1, 2, 3])
            #expect(throws: WorkerProtocolError.remote(message: "you are not privileged to add signatures", status: 1)) {
                try c.call(.addSignatures(p, ["k:AAAA"]))
            }
            // AddToStoreNar without a signature: refused, the framed NAR drained, connection kept.
            let nar = narOfFile("x")
            let q = try StoreDirectory.nix.makeFixedOutputPath(method: .recursive, hash: Hasher.hash(.sha256, nar), name: "x")
            let record = PathInfoRecord(path: q, narHash: Hasher.hash(.sha256, nar), narSize: UInt64(nar.count), ultimate: true)
            #expect(throws: WorkerProtocolError.self) {
                try c.call(.addToStoreNar(record, repair: false, dontCheckSigs: true)) { (w: WireWriter) throws(WorkerProtocolError) in
                    let f = FramedSink(w); try f.write(nar); try f.finish()
                }
            }
            #expect(try c.isValidPath(p))
            #expect(try !c.isValidPath(q))
        }
    }

    @Test func unreadableRequestClosesAfterTwoErrors() throws {
        let (bytes, end) = try withSession(service: MemoryStoreService()) { stream in
            let c = try WorkerClient(stream: stream, storeDirectory: .nix)
            try c.writer.writeU64(Opcode.isValidPath.rawValue); try c.writer.writeString("/nix/store/notvalid"); try c.writer.flush()
            return try c.reader.source.readAll(limit: 1 << 20)
        }
        // Two STDERR_ERROR frames (Nix 2.8 behaviour), then end of stream.
        let r = WireReader(MemoryStream(input: bytes))
        let v = Negotiated(dialect: .nix, clientVersion: .nix28, daemonVersion: .daemonDefault)
        for _ in 0..<2 {
            guard case .error(let e) = try StderrMessage.decode(from: r, v) else { Issue.record("no error frame"); return }
            // Nix 2.8's words and colours (transcript 039).
            #expect(e.message == "'\u{1b}[35;1mnotvalid\u{1b}[0m' is too short to be a valid store path")
        }
        #expect(try r.atEnd())
        if case .failed = end {} else { Issue.record("session did not fail") }
    }

    @Test func limitsAreErrorsNotTraps() throws {
        var limits = WireLimits.default
        limits.longString = 64
        let (_, end) = try withSession(service: MemoryStoreService(), limits: limits) { stream in
            let c = try WorkerClient(stream: stream, storeDirectory: .nix)
            #expect(throws: WorkerProtocolError.self) { try c.addTextToStore(name: "big", text: [UInt8](repeating: 65, count: 65)) }
        }
        #expect(end == .failed("text of 65 bytes at byte 56 exceeds the limit of 64"))
    }

    @Test func unknownOpcodeAndGarbage() throws {
        for junk: [UInt64] in [[99], [0xffff_ffff_ffff], [7, 1 << 40]] {
            let (_, end) = try withSession(service: MemoryStoreService()) { stream in
                let c = try WorkerClient(stream: stream, storeDirectory: .nix)
                for word in junk { try c.writer.writeU64(word) }
                try c.writer.flush()
                _ = try? c.reader.source.readAll(limit: 1 << 20)
            }
            if case .failed = end {} else { Issue.record("garbage \(junk) did not end the session") }
        }
    }

    @Test func newerNixMinorIsRefused() throws {
        let (_, end) = try withSession(service: MemoryStoreService()) { stream in
            #expect(throws: WorkerProtocolError.self) { _ = try WorkerClient(stream: stream, version: ProtocolVersion(0x126), storeDirectory: .nix) }
        }
        if case .failed = end {} else { Issue.record("1.38 client was served") }
    }
}

/// Inputs the `wire` fuzzer found, kept as regressions.
@Suite(.tags(.small)) struct WireRegressionTests {
    /// Old-style AddToStore whose NAR claims 2^64-1 content bytes, then ends: an error, not a
    /// trap converting the missing count to Int.
    @Test func hugeNarContentsLengthAtEndOfStream() throws {
        let v = Negotiated(dialect: .nix, clientVersion: ProtocolVersion(0x118), daemonVersion: .daemonDefault)
        let out = MemoryStream()
        let w = WireWriter(out)
        for word in [Handshake.clientMagic, 0x118, 0, 0] { try w.writeU64(word) }
        try WorkerRequest.addToStoreLegacy(name: "x", fixed: true, recursive: true, algorithm: "sha256").encode(to: w, v, .nix)
        for token in ["nix-archive-1", "(", "type", "regular", "contents"] { try w.writeString(token) }
        try w.writeU64(.max)
        try w.flush()
        let session = ServerSession(stream: MemoryStream(input: out.output), service: MemoryStoreService(),
                                    client: ClientIdentity(trusted: true), storeDirectory: .nix)
        if case .failed = session.run() {} else { Issue.record("session did not fail") }
    }
}
