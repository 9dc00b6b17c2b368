import StoreFormats
import WorkerProtocol

/// ImportPaths as guix-daemon runs it (formats.md §3.5, §5.4): the input is an export stream,
/// read item by item, each item's signature checked against an ACL holding one real key
/// (ci.guix.gnu.org's, whose secret nobody here has). Must never trap, and must never accept an
/// item: any success would be a forged signature or a hash collision.
enum ImportTarget {
    static let acl: [GuixPublicKey] = {
        let text = "(public-key (ecc (curve Ed25519) (q #8D156F295D24B0D9A86FA5741A840FF2D24F60F7B6C4134814AD55625971B394#)))"
        guard let key = try? GuixPublicKey(parsing: text) else { preconditionFailure("the built-in ACL key does not parse") }
        return [key]
    }()

    static func run(_ bytes: UnsafeRawBufferPointer) {
        var limits = WireLimits.default
        limits.pathCount = 4096
        let service = MemoryStoreService(storeDirectory: .nix)
        service.narLimit = 1 << 20
        service.authorizedKeys = acl
        let reader = ExportStreamReader(WireReader(MemoryStream(input: Array(bytes), maxReadSize: 4099), limits: limits),
                                        StoreContext(storeDirectory: .nix, rules: .nix))
        guard let imported = try? service.importPaths(reader, policy: .guixSignature) else { return }
        precondition(imported.isEmpty, "an item was imported without a signature by the ACL's key")
    }
}
