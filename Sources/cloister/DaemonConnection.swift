import Glibc
import LinuxSystem
import StoreFormats
import WorkerProtocol

/// One connection of the CLI to the daemon, shared by every command that talks to it.
///
/// The socket is `GUIX_DAEMON_SOCKET` (a path or `unix://PATH`), else
/// `<GUIX_STATE_DIRECTORY or /var/guix>/daemon-socket/socket`, as Guix's clients find it. The
/// store directory is `NIX_STORE_DIR` (or `NIX_STORE`), else `/gnu/store`, and must be the
/// daemon's. The CLI speaks the Nix 1.34 dialect: it has BuildPathsWithResults and lets a
/// trusted client import unsigned archives, which the Guix dialect never does.
struct DaemonConnection {
    let client: WorkerClient
    let socketPath: String
    var storeDirectory: StoreDirectory { client.context.storeDirectory }

    /// Whom to blame and what to do when nothing answers on the socket.
    static let startAdvice = "start the daemon ('cloister-daemon --build-users-group=guixbuild' as root, or 'cloister-daemon' as the store's owner) or set GUIX_DAEMON_SOCKET"

    static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Where the daemon listens, as Guix's clients work it out.
    static var socketPath: String {
        if let explicit = environment("GUIX_DAEMON_SOCKET") {
            return explicit.hasPrefix("unix://") ? String(explicit.dropFirst(7)) : explicit
        }
        let state = environment("GUIX_STATE_DIRECTORY") ?? "/var/guix"
        return state + "/daemon-socket/socket"
    }

    static func storeDirectory() throws -> StoreDirectory {
        let text = environment("NIX_STORE_DIR") ?? environment("NIX_STORE") ?? "/gnu/store"
        do { return try StoreDirectory(text) } catch { throw UsageError("NIX_STORE_DIR '\(text)': \(error)") }
    }

    /// Whether something listens on the socket (a socket file exists and accepts).
    static var isDaemonReachable: Bool {
        guard let fd = try? Socket.connectUnix(path: socketPath) else { return false }
        try? fd.close()
        return true
    }

    /// Connects and shakes hands; `options` go out as SetOptions at once.
    /// `version` `.guix` speaks the Guix dialect (signed archives only; see ArchiveCommand).
    static func open(options: ClientOptions? = nil, version: ProtocolVersion = .nix28) throws -> DaemonConnection {
        let path = socketPath
        if path.hasPrefix("guix://") || path.hasPrefix("ssh://") {
            throw UsageError("GUIX_DAEMON_SOCKET '\(path)': only Unix sockets are supported; give the socket's file name")
        }
        let fd: FileDescriptor
        do { fd = try Socket.connectUnix(path: path) } catch {
            throw UsageError("cannot connect to the daemon at \(path): \(error.errno); \(startAdvice)")
        }
        let stream = ClientSocketStream(fd)
        do {
            let client = try WorkerClient(stream: stream, version: version, storeDirectory: try storeDirectory(),
                                          options: options ?? (version == .guix ? .guixDefault : defaultOptions()))
            return DaemonConnection(client: client, socketPath: path)
        } catch {
            throw UsageError("the daemon at \(path) did not complete the handshake: \(error)")
        }
    }

    /// What `nix-store` sends unless told otherwise, with build traces on (the progress
    /// display reads them) and substitutes off (Cloister has no substituter).
    static func defaultOptions(verbosity: UInt64 = 0) -> ClientOptions {
        var options = ClientOptions.nixDefault(buildCores: 0)
        options.integers[3] = verbosity
        options.integers[9] = 1
        options.integers[11] = 0
        return options
    }

    /// A store item named by its path, a file inside it, or a symlink to it (`./result`).
    func storePath(_ text: String) throws -> StorePath {
        if let path = try? storeDirectory.storePath(containing: text, rules: .nix) { return path }
        if let resolved = realpath(text, nil) {
            defer { free(resolved) }
            if let path = try? storeDirectory.storePath(containing: String(cString: resolved), rules: .nix) { return path }
        }
        throw UsageError("\(text): not a store item (store items are under \(storeDirectory.path)/)")
    }

    func render(_ path: StorePath) -> String { path.absolute(in: storeDirectory) }

    /// QueryPathInfo, failing with a line naming the path when it is not valid.
    func pathInfo(_ path: StorePath) throws -> PathInfoRecord {
        guard let info = try client.queryPathInfo(path) else {
            throw UsageError("\(render(path)): not a valid store item; add it with 'cloister add' or build its derivation")
        }
        return info
    }
}

/// A connected socket as the worker protocol's byte stream (the client's side).
final class ClientSocketStream: ByteSource, ByteSink {
    let descriptor: FileDescriptor
    init(_ descriptor: FileDescriptor) { self.descriptor = descriptor }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(WorkerProtocolError) -> Int {
        do { return try descriptor.read(into: buffer) } catch {
            throw .transport(operation: "read from the daemon", errno: error.errno.rawValue)
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(WorkerProtocolError) {
        do { try Socket.send(descriptor, bytes) } catch {
            throw .transport(operation: "write to the daemon", errno: error.errno.rawValue)
        }
    }
}

/// Standard input and output as byte streams (archives, logs).
final class StandardInputSource: ByteSource {
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(WorkerProtocolError) -> Int {
        while true {
            let n = Glibc.read(0, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno != EINTR { throw .transport(operation: "read standard input", errno: errno) }
        }
    }
}

final class StandardOutputSink: ByteSink {
    func write(_ bytes: UnsafeRawBufferPointer) throws(WorkerProtocolError) {
        do { try writeStandardOutput(bytes) } catch { throw .transport(operation: "write standard output", errno: EIO) }
    }
}
