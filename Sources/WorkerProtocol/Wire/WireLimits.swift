/// Upper bounds on what a peer may make us allocate. Every string and list read from the wire
/// names the limit it is checked against; exceeding one is an error, never a trap.
public struct WireLimits: Sendable, Hashable {
    /// A store path, an option name, a hash, a method string.
    public var shortString: UInt64 = 8 * 1024
    /// Text added with AddTextToStore / `text:` AddToStore (a `.drv` file), a log line, a
    /// realisation, an option value such as a substitute-URL list.
    public var longString: UInt64 = 64 * 1024 * 1024
    /// Entries in a list of store paths or DerivedPaths.
    public var pathCount: UInt64 = 1 << 20
    /// Entries in an option map, an environment, a signature list.
    public var smallCount: UInt64 = 1 << 16
    /// Depth of directories in an inline NAR.
    public var narDepth: Int = 256
    /// A NAR entry name or symlink target (PATH_MAX).
    public var narName: UInt64 = 4096
    /// One frame of a framed stream; clients send at most 32 KiB, a reader accepts more.
    public var frameSize: UInt64 = 16 * 1024 * 1024

    public init() {}

    public static let `default` = WireLimits()
}
