import Glibc
import LinuxSystem
import Testing

/// Socket activation as systemd does it (guix-daemon.md §10.3): Debian's
/// `systemd-socket-activate` binds the socket, starts `cloister-daemon` with LISTEN_PID and
/// LISTEN_FDS=1, and a client connecting to that socket gets the worker-protocol handshake.
@Suite(.serialized, .tags(.large))
struct SocketActivationTests {
    static var binDirectory: String {
        if let directory = getenv("CLOISTER_BIN_DIR") { return String(cString: directory) }
        var directory = String(#filePath)
        while let slash = directory.lastIndex(of: "/"), !directory.isEmpty {
            directory = String(directory[..<slash])
            if access(directory + "/Package.swift", F_OK) == 0 { break }
        }
        return directory + "/.build/debug"
    }

    /// Connects to a Unix socket, retrying while it does not exist yet.
    static func connect(_ path: String) throws -> Int32 {
        for _ in 0..<500 {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw SystemError("socket", errno: .current) }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { buffer in
                for (i, byte) in path.utf8.enumerated() where i < buffer.count - 1 { buffer[i] = byte }
            }
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            if rc == 0 { return fd }
            close(fd)
            usleep(10_000)
        }
        throw SystemError("connect", path: path, errno: .current)
    }

    static func readExactly(_ fd: Int32, _ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, count - done) }
            if n <= 0 { break }
            done += n
        }
        return Array(bytes.prefix(done))
    }

    static func littleEndian(_ bytes: [UInt8]) -> UInt64 {
        bytes.prefix(8).enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    }

    @Test func inheritedSocketServesAClient() throws {
        let activate = try #require(Program.find("systemd-socket-activate", searchPath: "/usr/bin:/bin"),
                                    "systemd-socket-activate missing (Debian package systemd)")
        var template = Array("/tmp/cloister-activation-XXXXXX".utf8CString)
        let root = String(cString: try #require(mkdtemp(&template)))
        defer { _ = try? Program.run("/bin/rm", ["-rf", root]) }
        let socketPath = root + "/activated.socket"
        let variables = [
            "NIX_STORE_DIR=\(root)/store", "GUIX_STATE_DIRECTORY=\(root)/state",
            "GUIX_LOG_DIRECTORY=\(root)/log", "GUIX_CONFIGURATION_DIRECTORY=\(root)/etc",
        ]
        let daemon = try Program.start(activate, ["-l", socketPath] + variables.flatMap { ["-E", $0] }
                                       + [Self.binDirectory + "/cloister-daemon", "--listen=\(root)/ignored.socket"],
                                       logPath: root + "/daemon.log")
        defer {
            // SIGTERM, not SIGKILL: the daemon then stops its spare workers, which would
            // otherwise finish warming up after the directory is gone and re-create the store.
            try? daemon.signal(SIGTERM)
            _ = try? daemon.wait()
        }
        let fd = try Self.connect(socketPath)
        defer { close(fd) }
        var hello: [UInt8] = (0..<8).map { UInt8((0x6e69_7863 as UInt64) >> (8 * UInt64($0)) & 0xff) }
        #expect(hello.withUnsafeMutableBytes { write(fd, $0.baseAddress, 8) } == 8)
        let reply = Self.readExactly(fd, 16)
        let log = String(decoding: (try? FileDescriptor.open(root + "/daemon.log", .readOnly).readAll()) ?? [], as: UTF8.self)
        #expect(reply.count == 16, "daemon log: \(log)")
        #expect(Self.littleEndian(reply) == 0x6478_696f, "daemon log: \(log)")
        #expect(Self.littleEndian(Array(reply.dropFirst(8))) >> 8 == 1, "protocol major 1")
        #expect(log.contains("socket-activated with 1 socket"), "\(log)")
        #expect(access(root + "/ignored.socket", F_OK) != 0, "--listen must be ignored when activated")
        _ = hello
    }

    /// `--discover=yes` runs `$GUIX discover` beside the daemon, as guix-daemon does.
    @Test func discoverRunsGuixDiscover() throws {
        var template = Array("/tmp/cloister-discover-XXXXXX".utf8CString)
        let root = String(cString: try #require(mkdtemp(&template)))
        defer { _ = try? Program.run("/bin/rm", ["-rf", root]) }
        let fake = try FileDescriptor.open(root + "/guix", [.writeOnly, .create], mode: 0o755)
        try fake.writeAll(Array("#!/bin/sh\necho \"$@\" > \(root)/discover.out\n".utf8))
        try fake.close()
        var environment = ProcessEnvironment.current()
        environment["GUIX"] = root + "/guix"
        environment["NIX_STORE_DIR"] = root + "/store"
        environment["GUIX_STATE_DIRECTORY"] = root + "/state"
        environment["GUIX_LOG_DIRECTORY"] = root + "/log"
        let daemon = try Program.start(Self.binDirectory + "/cloister-daemon", ["--discover=yes", "--listen=\(root)/socket"],
                                       environment: environment, logPath: root + "/daemon.log")
        defer {
            try? daemon.kill()
            _ = try? daemon.wait()
        }
        var output: [UInt8] = []
        for _ in 0..<300 where output.isEmpty {
            usleep(10_000)
            output = (try? FileDescriptor.open(root + "/discover.out", .readOnly).readAll()) ?? []
        }
        #expect(output == Array("discover\n".utf8))
    }
}
