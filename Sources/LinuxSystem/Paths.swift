import Glibc

/// Whole-path helpers for the few places that take a path from configuration (TMPDIR, host
/// device nodes) rather than walking under a directory fd.
public enum HostPath {
    /// realpath(3): absolute, symlinks resolved (guix-daemon canonicalises TMPDIR this way).
    public static func canonical(_ path: String) throws(SystemError) -> String {
        guard let resolved = realpath(path, nil) else { throw SystemError("realpath", path: path, errno: .current) }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// access(2) for reading and writing, as the calling process's real ids.
    public static func isReadableAndWritable(_ path: String) -> Bool { access(path, R_OK | W_OK) == 0 }

    /// lstat(2) of an absolute path; nil if nothing is there.
    public static func status(_ path: String) throws(SystemError) -> FileStatus? {
        do {
            return try FileDescriptor.currentDirectory.status(at: path)
        } catch where error.errno == .noSuchFile {
            return nil
        }
    }

    /// `mkdir -p` of an absolute path: each missing component made with `mode` (the umask
    /// applies), existing ones left as they are.
    public static func makeDirectories(_ path: String, mode: UInt32 = 0o755) throws(SystemError) {
        var prefix = ""
        for component in path.split(separator: "/") {
            prefix += "/" + component
            do { try FileDescriptor.currentDirectory.makeDirectory(at: Array(prefix.utf8), mode: mode) }
            catch where error.errno == .fileExists {}
        }
    }

    /// True if something (even a dangling symlink) is at `path`.
    public static func exists(_ path: String) -> Bool {
        (try? status(path)) != nil
    }

    /// readlink(2) of an absolute path.
    public static func readLink(_ path: String) throws(SystemError) -> [UInt8] {
        try FileDescriptor.currentDirectory.readLink(at: Array(path.utf8))
    }
}
