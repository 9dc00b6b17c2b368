import Testing
import StoreFormats
@testable import WorkerProtocol

/// ExportPath's sign word and messages in each dialect: Nix 2.8's daemon reads the sign word and
/// ignores it (daemon.cc wopExportPath) and sends no message, so a Nix client's item never
/// carries a signature; guix-daemon signs when asked and announces each item at lvlInfo
/// (``exporting path `P'``, local-store.cc exportPath), shown when the client's verbosity
/// reaches it.
@Suite(.tags(.medium)) struct ExportDialectTests {
    @Test func nixIgnoresTheSignWord() throws {
        // No signing key: a signing daemon would refuse.
        let service = MemoryStoreService()
        _ = try withSession(service: service) { stream in
            var options = ClientOptions.nixDefault()
            options.integers[3] = 7
            let c = try WorkerClient(stream: stream, storeDirectory: .nix, options: options)
            var lines: [String] = []
            c.onLog = { if case .next(let t) = $0 { lines.append(String(decoding: t, as: UTF8.self)) } }
            let p = try c.addTextToStore(name: "x", text: Array("x".utf8))
            let plain = BufferSink(), asked = BufferSink()
            #expect(try c.call(.exportPath(p, sign: false), dataSink: plain) == .int(1))
            #expect(try c.call(.exportPath(p, sign: true), dataSink: asked) == .int(1))
            #expect(asked.bytes == plain.bytes)
            #expect(Array(asked.bytes.suffix(8)) == [0, 0, 0, 0, 0, 0, 0, 0])
            #expect(lines.isEmpty)
        }
    }

    @Test(arguments: [0, 1, 3] as [UInt64])
    func guixSignsAndAnnouncesAtInfo(verbosity: UInt64) throws {
        let service = MemoryStoreService(storeDirectory: .guix)
        service.signingKeys = try GuixKeyPair.generate()
        _ = try withSession(service: service, store: .guix) { stream in
            var options = ClientOptions.guixDefault
            options.integers[3] = verbosity
            let c = try WorkerClient(stream: stream, version: .guix, storeDirectory: .guix, options: options)
            var lines: [String] = []
            c.onLog = { if case .next(let t) = $0 { lines.append(String(decoding: t, as: UTF8.self)) } }
            let p = try c.addTextToStore(name: "x", text: Array("x".utf8))
            let plain = BufferSink(), signed = BufferSink()
            #expect(try c.call(.exportPath(p, sign: false), dataSink: plain) == .int(1))
            #expect(try c.call(.exportPath(p, sign: true), dataSink: signed) == .int(1))
            // Same item up to the signature word: 0 unsigned, 1 + signature signed.
            #expect(Array(signed.bytes.prefix(plain.bytes.count - 8)) == Array(plain.bytes.dropLast(8)))
            #expect(Array(signed.bytes[(plain.bytes.count - 8)..<plain.bytes.count]) == [1, 0, 0, 0, 0, 0, 0, 0])
            let announcement = "exporting path `\(StoreContext.guix.render(p))'\n"
            // guix-daemon's lvlInfo is 1 in its scale.
            #expect(lines == (verbosity >= 1 ? [announcement, announcement] : []))
        }
    }
}
