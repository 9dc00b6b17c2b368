import StoreFormats
import WorkerProtocol

/// The server's request decoder in both dialects: the first input byte picks the client's
/// version (Nix 1.34, 1.24, 1.16, Guix 0x164, or the handshake itself from the input) and
/// trust; the rest is what the client sends after the handshake, served by an in-memory store.
/// Must never trap, whatever the bytes; memory is bounded by the wire limits.
enum WireTarget {
    static let versions: [UInt64] = [0x122, 0x118, 0x110, 0x164, 0]

    static func run(_ bytes: UnsafeRawBufferPointer) {
        guard let selector = bytes.first else { return }
        let version = versions[Int(selector) % versions.count]
        var input: [UInt8] = []
        if version != 0 {
            for word in [Handshake.clientMagic, version, 0, 0] {
                withUnsafeBytes(of: word.littleEndian) { input.append(contentsOf: $0) }
            }
        }
        input.append(contentsOf: bytes.dropFirst())
        var limits = WireLimits.default
        limits.longString = 1 << 20
        limits.pathCount = 4096
        limits.frameSize = 1 << 20
        let service = MemoryStoreService(storeDirectory: version == 0x164 ? .guix : .nix)
        service.narLimit = 1 << 20
        let trusted = selector & 0x80 == 0
        let session = ServerSession(stream: MemoryStream(input: input), service: service,
                                    client: ClientIdentity(uid: trusted ? 0 : 1000, trusted: trusted),
                                    storeDirectory: service.storeDirectory, limits: limits)
        _ = session.run()
    }
}
