import Glibc
import LocalStore
import StoreFormats

/// `cloister hash [-S nar|none] [-f nix-base32|base16|base64] [-H sha256|sha1|sha512|md5] FILE`,
/// as `guix hash`: with `-S none` (default) the file's bytes, with `-S nar` its NAR serialisation.
enum HashCommand {
    static let usage = """
        Usage: cloister hash [OPTION…] FILE
        Print the hash of FILE (default: SHA-256 of its bytes, in nix-base32).
          -S, --serializer=TYPE  none (the file's bytes) or nar (its NAR serialisation)
          -f, --format=FMT       nix-base32 (default), base32, base16, hex, base64
          -H, --hash=ALGO        sha256 (default), sha1, sha512, md5
        """

    static func run(_ arguments: [String]) throws -> Int32 {
        var serializer = "none"
        var format = "nix-base32"
        var algorithm = HashAlgorithm.sha256
        var files: [String] = []
        var iterator = OptionIterator(arguments)
        while let option = try iterator.next() {
            switch option {
            case .flag("-h"), .flag("--help"):
                print(usage)
                return 0
            case .value("-S", let v), .value("--serializer", let v): serializer = v
            case .value("-f", let v), .value("--format", let v): format = v
            case .value("-H", let v), .value("--hash", let v):
                guard let a = HashAlgorithm(rawValue: v) else { throw UsageError("unknown hash algorithm '\(v)'") }
                algorithm = a
            case .positional(let p): files.append(p)
            case .flag(let f): throw UsageError("unknown option '\(f)'")
            case .value(let o, _): throw UsageError("unknown option '\(o)'")
            }
        }
        guard files.count == 1 else { throw UsageError("expected exactly one FILE\n\(usage)") }
        let hash: Hash
        switch serializer {
        case "none": hash = try hashFlat(files[0], algorithm)
        case "nar": hash = try hashNAR(files[0], algorithm)
        default: throw UsageError("unknown serializer '\(serializer)' (none or nar)")
        }
        switch format {
        case "nix-base32", "base32": print(hash.nix32)
        case "base16", "hex": print(hash.base16)
        case "base64": print(hash.base64)
        default: throw UsageError("unknown format '\(format)'")
        }
        return 0
    }

    static func hashFlat(_ path: String, _ algorithm: HashAlgorithm) throws -> Hash {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw UsageError("cannot open '\(path)': \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let hasher = Hasher(algorithm)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 8)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw UsageError("cannot read '\(path)': \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
        return hasher.finish()
    }

    /// The hash of the NAR serialisation of `path` (a symlink at `path` is hashed as a symlink,
    /// as `guix hash -S nar` and `nix-hash` do), streamed: constant memory.
    static func hashNAR(_ path: String, _ algorithm: HashAlgorithm) throws -> Hash {
        try NARDumper.hash(path: path, algorithm: algorithm).hash
    }
}
