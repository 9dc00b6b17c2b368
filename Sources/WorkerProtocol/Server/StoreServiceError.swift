import StoreFormats

/// An error a `StoreService` reports to the client: what went wrong, as data, and the status of
/// the `STDERR_ERROR` frame (1, or Guix's 100/101 for build failures). It is worded only when
/// `ErrorFrame` frames it, in the session's dialect (`StyledError`): the reasons below are the
/// ones Nix 2.8 and guix-daemon word differently; `.text` is the same for both.
public struct StoreServiceError: Error, Hashable, Sendable, CustomStringConvertible, StyledError {
    public enum Reason: Hashable, Sendable {
        /// A path that must be valid is not (store-api.cc / local-store.cc queryPathInfo).
        case invalidPath(String)
        /// BuildPaths / BuildPathsWithResults with repair from an untrusted client.
        case repairRefused
        /// ExportPath of a path whose contents no longer match its registered NAR hash.
        case contentsChanged(String, recorded: Hash, actual: Hash)
        /// Words both daemons would use alike (or that only one dialect can meet).
        case text(String)
    }

    public var reason: Reason
    public var status: UInt64

    public init(_ reason: Reason, status: UInt64 = 1) { self.reason = reason; self.status = status }
    public init(_ message: String, status: UInt64 = 1) { self.init(.text(message), status: status) }

    public func message(_ style: MessageStyle) -> String {
        switch reason {
        case .invalidPath(let path): "path \(style.quotedErrorArgument(path)) is not valid"
        case .repairRefused:
            style == .guix ? "repairing is a privileged operation" : "repairing is not allowed because you are not in 'trusted-users'"
        case .contentsChanged(let path, let recorded, let actual):
            // Nix 2.8 export-import.cc shows nix32 with the algorithm; guix-daemon printHash's hex.
            style == .guix
                ? "hash of path `\(path)' has changed from `\(recorded.base16)' to `\(actual.base16)'!"
                : "hash of path \(style.quotedErrorArgument(path)) has changed from \(style.quotedErrorArgument(recorded.prefixedNix32)) to \(style.quotedErrorArgument(actual.prefixedNix32))!"
        case .text(let text): text
        }
    }

    public var description: String { message(.nix) }

    public static func notBuiltYet(_ what: String) -> StoreServiceError {
        StoreServiceError("\(what) is not supported by this daemon yet (builds are not built yet)")
    }
}
