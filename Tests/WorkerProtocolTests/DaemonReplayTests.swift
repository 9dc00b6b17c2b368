import Testing
import Foundation
import Glibc
import StoreFormats
@testable import WorkerProtocol

/// Issue 4 acceptance: every Nix 2.8 transcript, replayed in order against a real
/// `cloister-daemon` process, gets the daemon bytes Nix 2.8's daemon sent (after `ReplayMask`).
///
/// The capture state is reproduced, not faked: the daemon runs in a private mount namespace
/// (`unshare -m`) where a fresh directory is bind-mounted on `/nix/store` (the transcripts'
/// store paths depend on that name) and a tmpfs on `/tmp` holds the capture machine's client
/// directory `/tmp/fmt` with the `result`/`result2` links nix-build made there; builds are
/// real (the transcripts' builders are `/bin/sh`, bound to a static busybox with
/// `--chroot-directory`, as Nix 2.8's sandbox shell is). State, socket and logs live under a temp directory in /var/tmp.
/// Root only. `/nix/store` is created (empty) on the host if missing, as a mount point.
@Suite(.serialized, .tags(.large),
       .enabled(if: geteuid() == 0 && access(ReplayDaemonPaths.daemonBinary, X_OK) == 0
                && access("/bin/busybox", X_OK) == 0 && access("/usr/bin/unshare", X_OK) == 0))
final class DaemonReplayTests {
    /// Transcripts that cannot replay identically, and why; every other one must.
    static let knownDifferences: [String: String] = [:]

    static var daemonBinary: String { ReplayDaemonPaths.daemonBinary }
    static let built = "/nix/store/jbzjdlczhy5nazj3d5ldki9ifmk3h6a1-built"

    let root: String
    let daemon: Process

    init() throws {
        var template = Array("/var/tmp/cloister-replay-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw ReplayFailure("mkdtemp failed") }
        root = String(cString: p)
        for dir in ["store", "state", "log", "etc", "tmp"] {
            try FileManager.default.createDirectory(atPath: root + "/" + dir, withIntermediateDirectories: true)
        }
        if access("/nix/store", F_OK) != 0 { try FileManager.default.createDirectory(atPath: "/nix/store", withIntermediateDirectories: true) }
        let script = """
            set -e
            mount --bind "$R/store" /nix/store
            mount -t tmpfs tmpfs /tmp
            mkdir /tmp/fmt
            ln -s \(Self.built) /tmp/fmt/result
            ln -s \(Self.built) /tmp/fmt/result2
            exec "$@"
            """
        var env = ProcessInfo.processInfo.environment
        env["R"] = root
        env["NIX_STORE_DIR"] = "/nix/store"
        env["GUIX_STATE_DIRECTORY"] = root + "/state"
        env["GUIX_LOG_DIRECTORY"] = root + "/log"
        env["GUIX_CONFIGURATION_DIRECTORY"] = root + "/etc"
        env["TMPDIR"] = root + "/tmp"
        env.removeValue(forKey: "GUIX_DAEMON_SOCKET")
        daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        daemon.arguments = ["--mount", "--propagation", "private", "/bin/sh", "-c", script, "replay-daemon",
                            Self.daemonBinary, "--listen=" + root + "/sock", "--chroot-directory=/bin/sh=/bin/busybox",
                            "--log-compression=bzip2", "--disable-deduplication"]
        daemon.environment = env
        daemon.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try daemon.run()
        // Up to 30 s: with the whole suite running beside it, a debug daemon can take seconds to listen.
        for _ in 0..<1500 where access(root + "/sock", F_OK) != 0 && daemon.isRunning { usleep(20_000) }
    }

    deinit {
        daemon.terminate()
        for _ in 0..<250 where daemon.isRunning { usleep(20_000) }
        if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) }
        // Store objects are read-only: make them writable, then remove everything.
        let rm = Process()
        rm.executableURL = URL(fileURLWithPath: "/bin/sh")
        rm.arguments = ["-c", "chmod -R u+w \"$0\" 2>/dev/null; rm -rf \"$0\"", root]
        try? rm.run()
        rm.waitUntilExit()
    }

    func connectToDaemon() throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ReplayFailure("socket: \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array((root + "/sock").utf8CString)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, c) in path.enumerated() where i < raw.count { raw[i] = UInt8(bitPattern: c) }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { close(fd); throw ReplayFailure("connect: \(errno)") }
        return fd
    }

    /// Waits until the daemon has no worker process left: on the capture machine each session
    /// was a `nix-daemon --stdio` process that had exited (and so dropped its temp roots)
    /// before the next command ran.
    func waitForWorkers() {
        let tasks = "/proc/\(daemon.processIdentifier)/task"
        for _ in 0..<250 {
            let ids = (try? FileManager.default.contentsOfDirectory(atPath: tasks)) ?? []
            let children = ids.compactMap { try? String(contentsOfFile: "\(tasks)/\($0)/children", encoding: .utf8) }
            if children.allSatisfy({ $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }) { return }
            usleep(20_000)
        }
    }

    /// Sends the transcript's client bytes and reads what the daemon answers, until the
    /// answer parses as a whole session or the daemon closes or goes quiet.
    func exchange(_ theirs: TranscriptParser) throws -> [UInt8] {
        let fd = try connectToDaemon()
        defer { close(fd) }
        let input = theirs.clientBytes
        let writer = Thread {
            var sent = 0
            while sent < input.count {
                let n = input[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { break }
                sent += n
            }
        }
        writer.start()
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var quiet = 0
        while quiet < 100 {   // 100 × 100 ms without data and without a complete session
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, 100) == 0 {
                quiet += 1
                var ours = TranscriptParser(client: input, server: ReplayMask.unmaskHandshake(ours: output, theirs: theirs))
                if (try? ours.parse()) != nil, ours.exchanges.count >= theirs.exchanges.count, ours.serverLeftover == 0 { break }
                continue
            }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            output += buffer[0..<n]
            quiet = 0
        }
        return output
    }

    @Test func replayAgainstDaemon() throws {
        #expect(daemon.isRunning, "daemon did not start")
        var report: [String: String] = [:]
        for name in Vectors.transcriptNames {
            let json = try #require(try Vectors.json("worker-protocol/nix-2.8-transcripts/" + name) as? [String: Any])
            var theirs = TranscriptParser(chunks: try #require(json["chunks"] as? [[String]]))
            try theirs.parse()
            let server = ReplayMask.unmaskHandshake(ours: try exchange(theirs), theirs: theirs)
            waitForWorkers()
            var ours = TranscriptParser(client: theirs.clientBytes, server: server)
            do { try ours.parse() } catch { report[name] = "our reply does not parse: \(error)"; continue }
            if let diff = ReplayMask.difference(theirs, ours) { report[name] = diff }
        }
        for name in Vectors.transcriptNames where Self.knownDifferences[name] == nil {
            #expect(report[name] == nil, "\(name): \(report[name] ?? "")")
        }
        let matched = Vectors.transcriptNames.filter { report[$0] == nil }
        print("daemon replay: \(matched.count)/\(Vectors.transcriptNames.count) transcripts identical after masking")
        for (name, diff) in report.sorted(by: { $0.key < $1.key }) { print("daemon replay: \(name): \(diff.prefix(400))") }
    }
}

enum ReplayDaemonPaths {
    static let packageRoot: String = {
        var dir = URL(fileURLWithPath: #filePath)
        while dir.path != "/" && !FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
            dir = dir.deletingLastPathComponent()
        }
        return dir.path
    }()
    static var daemonBinary: String { packageRoot + "/.build/debug/cloister-daemon" }
}

struct ReplayFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
