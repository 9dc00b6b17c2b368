import Testing
import StoreFormats
@testable import WorkerProtocol

/// Which archives ImportPaths accepts unsigned (guix-daemon.md §7.4, formats.md §3.5): a
/// trusted Nix client's (Nix 2.8 ignores the legacy signature), never an untrusted Nix client's
/// (Nix wants a narinfo signature no export item has), never a Guix client's, trusted or not.
@Suite(.tags(.medium)) struct ImportPolicyTests {
    /// One unsigned item of `text` exported by a throw-away store, framed as a client frames it.
    static func unsignedArchive(_ store: StoreDirectory) throws -> (bytes: [UInt8], path: StorePath) {
        let service = MemoryStoreService(storeDirectory: store)
        let version: ProtocolVersion = store == .guix ? .guix : .nix28
        return try withSession(service: service, store: store) { stream in
            let c = try WorkerClient(stream: stream, version: version, storeDirectory: store,
                                     options: version == .guix ? .guixDefault : .nixDefault())
            let path = try c.addTextToStore(name: "item", text: Array("unsigned\n".utf8))
            let sink = BufferSink()
            _ = try c.call(.exportPath(path, sign: false), dataSink: sink)
            return ([1, 0, 0, 0, 0, 0, 0, 0] + sink.bytes + [0, 0, 0, 0, 0, 0, 0, 0], path)
        }.0
    }

    func importing(_ bytes: [UInt8], store: StoreDirectory, trusted: Bool) throws -> (MemoryStoreService, Result<WorkerReply, WorkerProtocolError>) {
        let service = MemoryStoreService(storeDirectory: store)
        let version: ProtocolVersion = store == .guix ? .guix : .nix28
        let result = try withSession(service: service, client: ClientIdentity(uid: trusted ? 0 : 1000, trusted: trusted), store: store) { stream in
            let c = try WorkerClient(stream: stream, version: version, storeDirectory: store,
                                     options: version == .guix ? .guixDefault : .nixDefault())
            return Result { () throws(WorkerProtocolError) in try c.call(.importPaths, dataSource: MemoryStream(input: bytes)) }
        }.0
        return (service, result)
    }

    @Test func nixDialect() throws {
        let (bytes, path) = try Self.unsignedArchive(.nix)
        let (trustedStore, trusted) = try importing(bytes, store: .nix, trusted: true)
        #expect(try trusted.get() == .strings([path.absolute(in: .nix)]))
        #expect(try trustedStore.isValidPath(path))
        let (untrustedStore, untrusted) = try importing(bytes, store: .nix, trusted: false)
        #expect(throws: WorkerProtocolError.remote(message: "cannot add path '\(path.absolute(in: .nix))' because it lacks a signature by a trusted key", status: 1)) {
            try untrusted.get()
        }
        #expect(try !untrustedStore.isValidPath(path))
    }

    @Test func guixDialectNeverTakesUnsigned() throws {
        let (bytes, path) = try Self.unsignedArchive(.guix)
        for trusted in [true, false] {
            let (store, result) = try importing(bytes, store: .guix, trusted: trusted)
            #expect(throws: WorkerProtocolError.remote(message: "imported archive of `\(path.absolute(in: .guix))' lacks a signature", status: 1)) {
                try result.get()
            }
            #expect(try !store.isValidPath(path))
        }
    }
}
