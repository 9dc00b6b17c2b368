/// Runs a Guix-agnostic sandbox specification (root plan, id maps, network, argv, env, limits)
/// and hands back the exit status and the log; it knows nothing of derivations.
///
/// Flow: `SandboxSpec` → `SetupPlan` (flat `SetupStep`s) → `StepArena` (C memory) →
/// `csandbox_spawn` (clone + replay + execve, CSandbox) → `SandboxProcess` (wait, kill).
import LinuxSystem

/// Everything that can go wrong in this module, with the data to say what.
public enum SandboxError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A setup step in the child failed. `phase` is guix-daemon's phase label.
    case setupFailed(phase: String, action: String, step: Int, errno: Errno)
    /// clone(2) itself failed (e.g. user namespaces disabled: EPERM, or ENOSPC when the limit of
    /// namespaces is reached).
    case cloneFailed(errno: Errno, userNamespace: Bool)
    /// A system call on the parent side failed (pipe, poll, read, wait).
    case system(SystemError)
    /// The specification cannot be run as given.
    case invalidSpec(reason: String)
    /// Creating or checking the build directory failed (security.md SEC-03, SEC-12).
    case buildDirectory(path: String, reason: String)

    public var description: String {
        switch self {
        case .setupFailed(let phase, let action, _, let errno):
            return "while setting up the child process: in phase \(phase): \(action): \(errno)"
        case .cloneFailed(let errno, let userNamespace):
            if userNamespace && (errno == .notPermitted || errno == Errno(rawValue: 28)) {
                return "cannot create a user namespace (are unprivileged user namespaces disabled?): clone: \(errno)"
            }
            return "clone: \(errno)"
        case .system(let error):
            return error.description
        case .invalidSpec(let reason):
            return "invalid sandbox specification: \(reason)"
        case .buildDirectory(let path, let reason):
            return "build directory `\(path)': \(reason)"
        }
    }
}
