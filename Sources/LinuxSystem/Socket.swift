import Glibc

/// Stream sockets for the daemon's listeners (guix-daemon.md §10.3): Unix sockets bound
/// relative to their directory (the 108-byte `sun_path` limit), TCP via getaddrinfo (first
/// result, AI_NUMERICSERV|AI_ADDRCONFIG), accept with close-on-exec, and the peer's
/// credentials (`SO_PEERCRED`).
public enum Socket {
    /// The peer of a Unix-socket connection.
    public struct PeerCredentials: Hashable, Sendable {
        public let pid: Int32
        public let uid: UInt32
        public let gid: UInt32
    }

    /// guix-daemon: backlog 5.
    public static let backlog: Int32 = 5

    /// Binds and listens on a Unix socket at `path` with mode 0666 (umask 0111 during bind),
    /// removing a stale socket first. The parent directory must exist.
    public static func listenUnix(path: String) throws(SystemError) -> FileDescriptor {
        let slash = path.lastIndex(of: "/") ?? path.startIndex
        let directory = path[..<slash].isEmpty ? "/" : String(path[..<slash])
        let name = String(path[path.index(after: slash)...])
        guard name.utf8.count < 108 else { throw SystemError("bind", path: path, errno: .nameTooLong) }
        let fd = FileDescriptor(owning: try retrying("socket") { Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) })
        // Bind relative to the directory so long socket paths work (guix-daemon chdirs there).
        let dir = try FileDescriptor.open(directory, [.directory])
        _ = unlinkat(dir.rawValue, name, 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let procPath = "/proc/self/fd/\(dir.rawValue)/\(name)"
        let bindPath = procPath.utf8.count < 108 ? procPath : path
        guard bindPath.utf8.count < 108 else { throw SystemError("bind", path: path, errno: .nameTooLong) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bindPath.utf8)
            raw[bindPath.utf8.count] = 0
        }
        let old = umask(0o111)
        defer { umask(old) }
        _ = try retrying("bind", path: path) {
            withUnsafePointer(to: &address) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd.rawValue, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
        }
        try? dir.close()
        _ = try retrying("listen", path: path) { Glibc.listen(fd.rawValue, backlog) }
        return fd
    }

    /// Listens on TCP `host:port` (the first address getaddrinfo gives).
    public static func listenTCP(host: String, port: String) throws(SystemError) -> FileDescriptor {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, port, &hints, &result)
        guard status == 0, let info = result else { throw SystemError("getaddrinfo", path: "\(host):\(port)", errno: .invalidArgument) }
        defer { freeaddrinfo(result) }
        let fd = FileDescriptor(owning: try retrying("socket") { Glibc.socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) })
        var one: Int32 = 1
        setsockopt(fd.rawValue, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        _ = try retrying("bind", path: "\(host):\(port)") { Glibc.bind(fd.rawValue, info.pointee.ai_addr, info.pointee.ai_addrlen) }
        _ = try retrying("listen") { Glibc.listen(fd.rawValue, backlog) }
        return fd
    }

    /// Connects to a Unix socket (clients, tests).
    public static func connectUnix(path: String) throws(SystemError) -> FileDescriptor {
        let fd = FileDescriptor(owning: try retrying("socket") { Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) })
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        guard path.utf8.count < 108 else { throw SystemError("connect", path: path, errno: .nameTooLong) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        _ = try retrying("connect", path: path) {
            withUnsafePointer(to: &address) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd.rawValue, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
        }
        return fd
    }

    /// Accepts one connection (close-on-exec; TCP_NODELAY attempted as guix-daemon does).
    public static func accept(_ listener: FileDescriptor) throws(SystemError) -> FileDescriptor {
        let fd = try retrying("accept") { Glibc.accept(listener.rawValue, nil, nil) }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return FileDescriptor(owning: fd)
    }

    /// The peer of a Unix connection; nil for other families (TCP peers have no credentials).
    public static func peerCredentials(_ connection: FileDescriptor) -> PeerCredentials? {
        // struct ucred {pid_t pid; uid_t uid; gid_t gid;} (Glibc hides it behind _GNU_SOURCE).
        var cred: (Int32, UInt32, UInt32) = (0, 0, 0)
        var length = socklen_t(12)
        guard getsockopt(connection.rawValue, SOL_SOCKET, SO_PEERCRED, &cred, &length) == 0 else { return nil }
        var family = sockaddr_storage()
        var familyLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let isUnix = withUnsafeMutablePointer(to: &family) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(connection.rawValue, $0, &familyLength) }
        } == 0 && Int32(family.ss_family) == AF_UNIX
        guard isUnix else { return nil }
        return PeerCredentials(pid: cred.0, uid: cred.1, gid: cred.2)
    }

    /// Whether `fd` is a listening stream socket (systemd socket activation hands these over).
    public static func isListeningSocket(_ fd: Int32) -> Bool {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &length) == 0 && value != 0
    }

    /// Sends to a connection, ignoring SIGPIPE (a vanished client is an EPIPE error).
    public static func send(_ fd: FileDescriptor, _ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        var done = 0
        while done < bytes.count {
            let n = try retryingSize("send") { Glibc.send(fd.rawValue, bytes.baseAddress! + done, bytes.count - done, Int32(MSG_NOSIGNAL)) }
            done += n
        }
    }
}

extension Socket {
    /// Receives what is already queued on a stream socket without waiting: the byte count (0 at
    /// end of stream), or nil when nothing is there yet (EAGAIN).
    public static func receiveIfReady(_ fd: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int? {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        while true {
            let n = Glibc.recv(fd.rawValue, base, buffer.count, Int32(MSG_DONTWAIT))
            if n >= 0 { return n }
            let error = Errno.current
            if error == .interrupted { continue }
            if error.rawValue == EAGAIN || error.rawValue == EWOULDBLOCK { return nil }
            throw SystemError("recv", errno: error)
        }
    }

    /// Makes blocking receives on `fd` give up after `seconds` (SO_RCVTIMEO; nil: wait forever).
    public static func setReceiveTimeout(_ fd: FileDescriptor, seconds: Double?) throws(SystemError) {
        var value = timeval()
        if let seconds {
            let microseconds = max(1, Int((seconds * 1e6).rounded()))  // 0 would mean "forever"
            value.tv_sec = microseconds / 1_000_000
            value.tv_usec = microseconds % 1_000_000
        }
        guard setsockopt(fd.rawValue, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size)) == 0 else {
            throw SystemError("setsockopt(SO_RCVTIMEO)", errno: .current)
        }
    }

    /// A blocking receive: the byte count (0 at end of stream), or nil when a receive timeout
    /// (`setReceiveTimeout`) ran out first.
    public static func receive(_ fd: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int? {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        while true {
            let n = Glibc.recv(fd.rawValue, base, buffer.count, 0)
            if n >= 0 { return n }
            let error = Errno.current
            if error == .interrupted { continue }
            if error.rawValue == EAGAIN || error.rawValue == EWOULDBLOCK { return nil }
            throw SystemError("recv", errno: error)
        }
    }

    /// Whether `fd` is an AF_UNIX socket (socket-activated descriptors may be TCP).
    public static func isUnixSocket(_ fd: Int32) -> Bool {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        } == 0
        return ok && Int32(storage.ss_family) == AF_UNIX
    }
}
