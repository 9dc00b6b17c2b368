/// How each daemon words what its clients read. Nix 2.8 quotes names as 'name' and says "the
/// Nix store"; guix-daemon (a Nix 1.x fork) quotes them as `name' and says "the store". Errors
/// whose words differ carry their data and are worded only when a server frames them for a
/// session, in that session's style; everywhere else (logs, the CLI) `description` serves.
public enum MessageStyle: Sendable, Hashable {
    case nix
    case guix

    /// A name quoted as this daemon's log lines quote it (plain in both).
    public func quoted(_ text: String) -> String {
        switch self {
        case .nix: "'\(text)'"
        case .guix: "`\(text)'"
        }
    }

    /// An argument of an error message. Nix 2.8 builds errors with `hintfmt`, which shows every
    /// argument in bold magenta (its client drops the colours when stderr is not a terminal);
    /// guix-daemon's errors, and both daemons' log lines, are plain.
    public func errorArgument(_ text: String) -> String {
        switch self {
        case .nix: Self.magenta + text + Self.normal
        case .guix: text
        }
    }

    /// `quoted(errorArgument(text))`: a quoted name in an error message.
    public func quotedErrorArgument(_ text: String) -> String { quoted(errorArgument(text)) }

    /// What Nix 2.8 puts before an error's message when it sends the whole text (`what()`) to a
    /// client older than 1.26: its red `error:` prefix. guix-daemon sends the message alone.
    public var wholeErrorPrefix: String {
        switch self {
        case .nix: Self.red + "error:" + Self.normal + " "
        case .guix: ""
        }
    }

    /// `text` without ANSI control sequences (ESC `[`, parameter bytes, one final byte): what
    /// Nix's client prints of a daemon's message when stderr is not a terminal.
    public static func withoutColours(_ text: String) -> String {
        guard text.utf8.contains(0x1b) else { return text }
        var out: [UInt8] = []
        var bytes = text.utf8.makeIterator()
        while let b = bytes.next() {
            guard b == 0x1b else { out.append(b); continue }
            guard bytes.next() == UInt8(ascii: "[") else { continue }
            // Parameter and intermediate bytes are 0x20–0x3f; the final byte is 0x40–0x7e.
            while let c = bytes.next(), !(0x40...0x7e).contains(c) {}
        }
        return String(decoding: out, as: UTF8.self)
    }

    static let magenta = "\u{1b}[35;1m"
    static let red = "\u{1b}[31;1m"
    static let normal = "\u{1b}[0m"
}

/// An error worded differently for Nix and Guix clients.
public protocol StyledError: Error {
    func message(_ style: MessageStyle) -> String
}
