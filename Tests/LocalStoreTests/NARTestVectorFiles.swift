import Glibc
import LinuxSystem

/// The shared vectors: $CLOISTER_VECTORS, else <repo>/../shared/vectors (from a worktree, the
/// nearest ancestor of the repository holding shared/vectors).
enum NARTestVectorFiles {
    static var repository: String {
        var path = #filePath
        while path != "/" && path != "" {
            path = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
            if access(path + "/Package.swift", F_OK) == 0 { return path }
        }
        return "."
    }

    static var directory: String {
        if let override = getenv("CLOISTER_VECTORS") { return String(cString: override) }
        var base = String(repository[..<(repository.lastIndex(of: "/") ?? repository.startIndex)])
        while !base.isEmpty && access(base + "/shared/vectors", F_OK) != 0 {
            base = String(base[..<(base.lastIndex(of: "/") ?? base.startIndex)])
        }
        return base + "/shared/vectors"
    }

    static func bytes(_ relative: String) throws -> [UInt8] {
        try readFile(directory + "/" + relative)
    }
}
