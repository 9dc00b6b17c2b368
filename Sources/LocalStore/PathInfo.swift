/// What the database knows about one valid store path (a `ValidPaths` row plus its `Refs`).
import StoreFormats

public struct ValidPathInfo: Hashable, Sendable {
    public var path: StorePath
    /// SHA-256 of the path's NAR serialisation; stored as `sha256:<base16>`.
    public var narHash: Hash
    public var references: Set<StorePath>
    /// The derivation that produced the path, if known.
    public var deriver: StorePath?
    /// The NAR's length; 0 means unknown (stored as NULL).
    public var narSize: UInt64
    /// Seconds since the epoch; 0 at registration means "now".
    public var registrationTime: Int64

    public init(path: StorePath, narHash: Hash, references: Set<StorePath> = [], deriver: StorePath? = nil,
                narSize: UInt64 = 0, registrationTime: Int64 = 0) {
        self.path = path
        self.narHash = narHash
        self.references = references
        self.deriver = deriver
        self.narSize = narSize
        self.registrationTime = registrationTime
    }

    /// References in byte order, the order clients expect.
    public var sortedReferences: [StorePath] { references.sorted() }
}
