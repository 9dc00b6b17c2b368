/// The one error type of the Builder module. Cases carry data; `description` is the text
/// guix-daemon shows for the same condition (its wording, quotes and all).
import StoreFormats
import LocalStore
import Sandbox
import LinuxSystem

public enum BuildError: Error, Sendable, CustomStringConvertible {
    case store(LocalStoreError)
    case sandbox(SandboxError)
    case system(SystemError)
    case format(FormatError)
    /// A build-level failure with Guix's message (BuildError in build.cc): the build fails, the
    /// request goes on.
    case buildFailed(String)
    /// The builder succeeded but an output is unacceptable (status OutputRejected).
    case outputRejected(String)
    /// `--check`: a rebuilt output differs from the valid one (status NotDeterministic).
    case notDeterministic(String)
    /// A fixed output's content is not the promised one (§1.9).
    case hashMismatch(path: String, algorithm: String, expected: String, actual: String)
    /// A request-level error (Error in build.cc): aborts the whole request, e.g. no build user.
    case misc(String)

    public var description: String {
        switch self {
        case .store(let error): error.description
        case .sandbox(let error): error.description
        case .system(let error): error.description
        case .format(let error): error.description
        case .buildFailed(let message), .misc(let message), .outputRejected(let message), .notDeterministic(let message): message
        case .hashMismatch(let path, _, _, _): "hash mismatch for store item '\(path)'"
        }
    }
}
