/// NAR (Nix ARchive), formats.md §3. Every token is a string in the §1.2 encoding: u64
/// little-endian length, the bytes, zero padding to a multiple of 8.
///
///     nar      = str("nix-archive-1") node
///     node     = str("(") str("type") body str(")")
///     body     = str("regular") [ str("executable") str("") ] str("contents") contents
///              | str("symlink") str("target") str(target)
///              | str("directory") { entry }
///     entry    = str("entry") str("(") str("name") str(name) str("node") node str(")")
///     contents = u64 size, size bytes, zero padding to 8
///
/// Only the canonical form is accepted (security.md §3.1), so that NAR → tree → NAR is the
/// identity and hash(NAR) is a function of the tree: fields in the order above, `executable`
/// with the empty value, entry names strictly increasing byte-wise, no `.`/`..`/`/`/NUL names,
/// zero padding, and the limits below. A NAR is self-delimiting: readers stop right after the
/// root node's `)`.
public enum NAR {
    /// Deepest directory nesting accepted (the root node is depth 0). Guix sets no limit and
    /// modern Nix stops at 64; 256 is far above any real store item yet bounds the reader's
    /// recursion (a few hundred bytes of stack per level) and the writer's name stack
    /// (256 × 255 bytes), so a hostile NAR cannot exhaust either.
    public static let maxDepth = 256
    /// NAME_MAX on Linux: longer names could never be restored.
    public static let maxNameLength = 255
    /// PATH_MAX − 1: the kernel refuses longer symlink targets.
    public static let maxSymlinkTargetLength = 4095

    static let magic: [UInt8] = Array("nix-archive-1".utf8)
    /// Longest keyword token ("nix-archive-1"); a longer tag cannot be any keyword, so it is
    /// refused before anything is allocated.
    static let maxTagLength = 16

    enum Tag {
        static let open: [UInt8] = [0x28]  // "("
        static let close: [UInt8] = [0x29]  // ")"
        static let type: [UInt8] = Array("type".utf8)
        static let regular: [UInt8] = Array("regular".utf8)
        static let executable: [UInt8] = Array("executable".utf8)
        static let contents: [UInt8] = Array("contents".utf8)
        static let symlink: [UInt8] = Array("symlink".utf8)
        static let target: [UInt8] = Array("target".utf8)
        static let directory: [UInt8] = Array("directory".utf8)
        static let entry: [UInt8] = Array("entry".utf8)
        static let name: [UInt8] = Array("name".utf8)
        static let node: [UInt8] = Array("node".utf8)
    }

    /// Why `name` cannot be a directory entry, or nil if it can.
    public static func problem(withName name: [UInt8]) -> String? {
        if name.isEmpty { return "invalid file name ''" }
        if name == [0x2E] || name == [0x2E, 0x2E] { return "invalid file name '\(display(name))'" }
        if name.count > maxNameLength { return "file name longer than \(maxNameLength) bytes" }
        if name.contains(0x2F) { return "invalid file name '\(display(name))' (contains '/')" }
        if name.contains(0) { return "invalid file name containing NUL" }
        return nil
    }

    /// Why `target` cannot be a symlink target, or nil if it can.
    public static func problem(withTarget target: [UInt8]) -> String? {
        if target.isEmpty { return "empty symlink target" }
        if target.count > maxSymlinkTargetLength { return "symlink target longer than \(maxSymlinkTargetLength) bytes" }
        if target.contains(0) { return "symlink target containing NUL" }
        return nil
    }

    /// Bytes shown in an error message (invalid UTF-8 replaced, long text cut).
    static func display(_ bytes: [UInt8]) -> String {
        let text = String(decoding: bytes.prefix(64), as: UTF8.self)
        return bytes.count > 64 ? text + "…" : text
    }

    /// Zero bytes that follow `length` bytes to reach a multiple of 8.
    @inline(__always)
    static func padding(_ length: UInt64) -> Int { Int((8 &- (length & 7)) & 7) }
}
