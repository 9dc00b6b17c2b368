import Glibc
import LocalStore
import StoreFormats
import WorkerProtocol

/// `cloister add FILE…`, as `guix archive --add`-style `nix-store --add`: each file or tree is
/// sent to the daemon as a NAR (recursive, SHA-256) and becomes the store item
/// `<store>/<hash>-<basename>`; its path is printed. The NAR is streamed, never held whole.
enum AddCommand {
    static let usage = """
        Usage: cloister add [OPTION…] FILE…
        Add each FILE (a file, a directory tree or a symlink) to the store through the daemon and
        print its store path. The name of the store item is the file's base name.
          -n, --name=NAME    use NAME instead of the base name (one FILE only)
          -h, --help         display this help and exit
        Environment: GUIX_DAEMON_SOCKET (default /var/guix/daemon-socket/socket), NIX_STORE_DIR.
        """

    static func run(_ arguments: [String]) throws -> Int32 {
        var files: [String] = []
        var name: String?
        var iterator = OptionIterator(arguments, valued: ["-n", "--name"])
        while let option = try iterator.next() {
            switch option {
            case .flag("-h"), .flag("--help"):
                print(usage)
                return 0
            case .value("-n", let v), .value("--name", let v): name = v
            case .positional(let p): files.append(p)
            case .flag(let f): throw UsageError("unrecognized option '\(f)'")
            case .value(let o, _): throw UsageError("unrecognized option '\(o)'")
            }
        }
        guard !files.isEmpty else { throw UsageError("missing arguments; try 'cloister add --help'") }
        if name != nil && files.count > 1 { throw UsageError("--name applies to one FILE only") }
        let connection = try DaemonConnection.open()
        for file in files {
            var trimmed = file
            while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
            let base = name ?? String(trimmed.split(separator: "/").last ?? Substring(trimmed))
            guard access(file, F_OK) == 0 || isSymlink(file) else {
                throw UsageError("\(file): \(String(cString: strerror(errno)))")
            }
            let path = try add(file, name: base, connection)
            print(connection.render(path))
        }
        return 0
    }

    static func isSymlink(_ file: String) -> Bool {
        var st = stat()
        return lstat(file, &st) == 0 && (st.st_mode & S_IFMT) == S_IFLNK
    }

    /// Streams the NAR of `file` as AddToStore (framed, `fixed:r:sha256`).
    static func add(_ file: String, name: String, _ connection: DaemonConnection) throws -> StorePath {
        var dumpError: (any Error)?
        let request = WorkerRequest.addToStore(name: name, method: "fixed:r:sha256", references: [], repair: false)
        let reply: WorkerReply
        do {
            reply = try connection.client.call(request) { (writer: WireWriter) throws(WorkerProtocolError) in
                let framed = FramedSink(writer)
                do {
                    let (frames, _) = try NARDumper.dump(path: file, to: BufferedFrames(framed))
                    try frames.flush()
                } catch let error as WorkerProtocolError {
                    throw error
                } catch {
                    // The daemon sees the stream end mid-NAR and registers nothing.
                    dumpError = error
                    throw WorkerProtocolError.invalidValue(field: "file", text: file, reason: "unreadable")
                }
                try framed.finish()
            }
        } catch {
            if let dumpError { throw UsageError("\(file): \(dumpError)") }
            throw UsageError("\(file): \(error)")
        }
        guard case .addedPathInfo(let info) = reply else { throw UsageError("\(file): the daemon gave an unexpected reply") }
        return info.path
    }
}

/// Gathers the NAR writer's small writes into frames of up to 64 KiB.
struct BufferedFrames: NARSink {
    final class Box { var bytes: [UInt8] = [] }
    let sink: FramedSink
    let box = Box()

    init(_ sink: FramedSink) {
        self.sink = sink
        box.bytes.reserveCapacity(1 << 16)
    }

    mutating func write(_ bytes: UnsafeRawBufferPointer) throws {
        if box.bytes.count + bytes.count > 1 << 16 { try flush() }
        if bytes.count >= 1 << 16 {
            try sink.write(bytes)
        } else {
            box.bytes.append(contentsOf: bytes)
        }
    }

    func flush() throws {
        guard !box.bytes.isEmpty else { return }
        try sink.write(box.bytes)
        box.bytes.removeAll(keepingCapacity: true)
    }
}
