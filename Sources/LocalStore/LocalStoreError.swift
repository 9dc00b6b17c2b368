/// The one error type of LocalStore. Each case carries what a person needs: the path, the SQL,
/// the errno. `description` is the one-line text (Guix's wording where Guix has one, e.g.
/// ``cannot delete path `P' since it is still alive``); `message(_:)` words the cases the two
/// daemons word differently for a client of either.
import StoreFormats
import LinuxSystem

public enum LocalStoreError: Error, Sendable, CustomStringConvertible {
    case invalidConfiguration(String, reason: String)
    /// A SQLite call failed: result code, extended code, SQLite's message, what we were doing.
    case sqlite(code: Int32, extendedCode: Int32, message: String, context: String)
    /// A system call failed (LinuxSystem says which call, on what, and the errno).
    case system(SystemError)
    /// The disk filled up while writing `path`; nothing of it was kept.
    case diskFull(String)
    case format(FormatError)
    case schemaTooNew(found: Int, supported: Int)
    case implausiblyOldSchema(found: Int)
    /// The store was opened read-only (this user may not write its database directory).
    case readOnlyStore(String)
    /// A store path that must be valid is not (e.g. a reference given to registration).
    case invalidPath(String)
    case notInStore(String)
    /// GC / delete: the path is reachable from a root.
    case pathStillAlive(String)
    /// invalidatePath: other valid paths still refer to it.
    case pathHasReferrers(String, referrers: [String])
    /// Only regular files, directories and symlinks may be in the store (§4.3).
    case unsupportedFileType(String)
    /// A file of a pool-mode build output not owned by the build user (§4.3).
    case invalidOwnership(String)
    /// Contents do not match what the caller promised.
    case hashMismatch(path: String, expected: String, actual: String)
    /// Registration found a reference cycle among the new paths.
    case referenceCycle(String)
    /// A .drv being registered names output paths that are not the ones its contents imply.
    case invalidDerivationOutputs(String, reason: String)
    /// A `.drv` larger than `StoreConfiguration.derivationSizeLimit` (never read whole).
    case derivationTooLarge(String, size: UInt64, limit: UInt64)
    /// The archive signing key or the ACL is missing, unreadable or not secret (Guix's message).
    case archiveKey(String)
    /// Something that should not happen happened to the on-disk state.
    case corrupt(String, reason: String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let name, let reason): "invalid setting \(name): \(reason)"
        case .sqlite(_, _, let message, let context): "SQLite error while \(context): \(message)"
        case .system(let error): error.description
        case .diskFull(let path): "no space left on device while adding `\(path)'"
        case .format(let error): error.description
        case .schemaTooNew(let found, let supported):
            "current store schema is version \(found), but I only support \(supported)"
        case .implausiblyOldSchema(let found): "implausibly old store schema (version \(found))"
        case .readOnlyStore(let directory): "the store database in `\(directory)' is read-only for this user"
        case .invalidPath(let path): "path `\(path)' is not valid"
        case .notInStore(let path): "path `\(path)' is not in the store"
        case .pathStillAlive(let path): "cannot delete path `\(path)' since it is still alive"
        case .pathHasReferrers(let path, _): "cannot delete path `\(path)' because it is in use"
        case .unsupportedFileType(let path): "file `\(path)' has an unsupported type"
        case .invalidOwnership(let path): "invalid ownership on file `\(path)'"
        case .hashMismatch(let path, let expected, let actual):
            "hash mismatch importing path `\(path)';\n  wanted: \(expected)\n  got:    \(actual)"
        case .referenceCycle(let path): "cycle detected in the references of `\(path)'"
        case .invalidDerivationOutputs(let path, let reason): "derivation `\(path)' has incorrect outputs: \(reason)"
        case .derivationTooLarge(let path, let size, let limit):
            "derivation `\(path)' is \(size) bytes, larger than the limit of \(limit) bytes"
        case .archiveKey(let message): message
        case .corrupt(let path, let reason): "`\(path)': \(reason)"
        }
    }
}

extension LocalStoreError: StyledError {
    /// Nix 2.8's words (store-api.cc, gc.cc, local-store.cc) or guix-daemon's.
    public func message(_ style: MessageStyle) -> String {
        switch self {
        case .invalidPath(let path): return "path \(style.quotedErrorArgument(path)) is not valid"
        case .notInStore(let path): return FormatError.notInStore(path, storeDirectory: "").message(style)
        case .pathStillAlive(let path) where style == .nix:
            return "Cannot delete path \(style.quotedErrorArgument(path)) since it is still alive. To find out why, use: nix-store --query --roots"
        case .pathHasReferrers(let path, let referrers):
            // Nix shows the referrers as one argument (showPaths), coloured as a whole.
            return "cannot delete path \(style.quotedErrorArgument(path)) because it is in use by \(style.errorArgument(referrers.map(style.quoted).joined(separator: ", ")))"
        case .unsupportedFileType(let path):
            // guix-daemon's canonicalisation says this one with typographic quotes.
            return style == .nix ? "file \(style.quotedErrorArgument(path)) has an unsupported type" : "file \u{2018}\(path)\u{2019} has an unsupported type"
        case .referenceCycle(let path): return "cycle detected in the references of \(style.quotedErrorArgument(path))"
        case .format(let error): return error.message(style)
        default: return description
        }
    }
}
