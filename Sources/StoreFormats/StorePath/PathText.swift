/// Host paths as text, the way Nix and guix-daemon normalise them before use (util.cc
/// `canonPath` without symlink resolution, `absPath`): for configuration values and for the
/// paths clients send (indirect roots), whose text names files on disk — the hash of an
/// indirect root's text is its link's name under `gcroots/auto`.
public enum PathText {
    /// Drops empty and `.` components, resolves `..` lexically (never above `/`), no trailing
    /// slash. `path` is taken as absolute.
    public static func canonical(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." {
                if !parts.isEmpty { parts.removeLast() }
                continue
            }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }

    /// `absPath`: a relative `path` is taken under `directory`, then the whole is canonical.
    public static func absolute(_ path: String, in directory: String) -> String {
        canonical(path.hasPrefix("/") ? path : directory + "/" + path)
    }
}
