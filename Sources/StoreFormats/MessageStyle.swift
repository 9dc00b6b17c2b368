/// How each daemon words what its clients read. Nix 2.8 quotes names as 'name' and says "the
/// Nix store"; guix-daemon (a Nix 1.x fork) quotes them as `name' and says "the store". Errors
/// whose words differ carry their data and are worded only when a server frames them for a
/// session, in that session's style; everywhere else (logs, the CLI) `description` serves.
public enum MessageStyle: Sendable, Hashable {
    case nix
    case guix

    public func quoted(_ text: String) -> String {
        switch self {
        case .nix: "'\(text)'"
        case .guix: "`\(text)'"
        }
    }
}

/// An error worded differently for Nix and Guix clients.
public protocol StyledError: Error {
    func message(_ style: MessageStyle) -> String
}
