import Testing
import Foundation
import Glibc

/// A spare worker whose daemon died without stopping it (SIGKILL, a crash) must go away without
/// touching the store: one that finds its channel already closed exits before opening the store
/// (opening would create a store that was removed meanwhile), and one already idle is killed by
/// the kernel with its parent (PR_SET_PDEATHSIG) even though its channel is still open.
@Suite(.serialized, .tags(.large)) struct OrphanedSpareTests {
    /// A fresh directory for the store and state the spare would open.
    static func scratch(_ label: String) throws -> String {
        let root = NSTemporaryDirectory() + "cloister-orphan-\(label)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        return root
    }

    /// The environment of a spare serving the store under `root`.
    static func spareEnvironment(_ root: String) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["NIX_STORE_DIR"] = root + "/store"
        env["GUIX_STATE_DIRECTORY"] = root + "/var"
        env["GUIX_LOG_DIRECTORY"] = root + "/log"
        env["GUIX_CONFIGURATION_DIRECTORY"] = root + "/etc"
        env["_CLOISTER_WORKER"] = "spare"
        return env
    }

    /// A SOCK_SEQPACKET pair like the daemon's worker channel.
    static func channel() throws -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0)
        return (fds[0], fds[1])
    }

    /// Starts `argv` with `fd3` as its fd 3 and stdout into `stdout` (if given).
    static func spawn(_ argv: [String], environment: [String: String], fd3: Int32, stdout: Int32? = nil) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fd3, 3)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if let stdout { posix_spawn_file_actions_adddup2(&actions, stdout, 1) }
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let args = argv.map { strdup($0) }
        let env = environment.map { strdup("\($0.key)=\($0.value)") }
        defer { args.forEach { free($0) }; env.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, nil, args + [nil], env + [nil])
        try #require(rc == 0, "posix_spawn \(argv[0]): \(rc)")
        return pid
    }

    /// Whether `pid` is gone or a zombie (an orphan is reaped by whoever adopted it).
    static func isDead(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
        guard let close = stat.lastIndex(of: ")") else { return true }
        let state = stat[stat.index(close, offsetBy: 2)...].prefix(1)
        return state == "Z" || state == "X"
    }

    /// Field 22 of /proc/PID/stat (start time), which tells a reused pid apart.
    static func startTime(_ pid: pid_t) -> String? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 19 ? String(fields[19]) : nil
    }

    static func waitDead(_ pid: pid_t, seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if isDead(pid) { return true }
            usleep(20_000)
        }
        return isDead(pid)
    }

    @Test func aSpareWhoseChannelIsClosedExitsBeforeOpeningTheStore() throws {
        let root = try Self.scratch("closed")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (ours, theirs) = try Self.channel()
        // The daemon is gone before the spare looks: its end is closed.
        close(ours)
        let pid = try Self.spawn([TemporaryDaemon.binary], environment: Self.spareEnvironment(root), fd3: theirs)
        close(theirs)
        var status: Int32 = 0
        var waited: pid_t = 0
        for _ in 0..<1000 {
            waited = waitpid(pid, &status, WNOHANG)
            if waited != 0 { break }
            usleep(10_000)
        }
        if waited == 0 { kill(pid, SIGKILL); waitpid(pid, &status, 0) }
        #expect(waited == pid, "the spare exits by itself")
        #expect(status == 0, "exit status \(status)")
        let left = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        #expect(left.isEmpty, "nothing created under the store's root: \(left)")
    }

    @Test func anIdleSpareDiesWithItsDaemon() throws {
        let root = try Self.scratch("idle")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (ours, theirs) = try Self.channel()
        defer { close(ours) }
        var out: [Int32] = [-1, -1]
        try #require(pipe(&out) == 0)
        // A stand-in daemon: a shell that starts the spare (fd 3 inherited), reports its pid and
        // waits; we hold the channel's other end open, so only the parent's death can tell.
        let shell = try Self.spawn(["/bin/sh", "-c", "\"$0\" & echo $!; exec sleep 600", TemporaryDaemon.binary],
                                   environment: Self.spareEnvironment(root), fd3: theirs, stdout: out[1])
        close(theirs)
        close(out[1])
        var bytes = [UInt8](repeating: 0, count: 64)
        let n = read(out[0], &bytes, bytes.count)
        close(out[0])
        let spare = try #require(Int32(String(decoding: bytes.prefix(max(n, 0)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)))
        // Only a spare still alive is ours to kill: once it is gone (and reaped by whoever
        // adopted it) its pid may already belong to another process (same pid, another start
        // time). It cannot die between the check and the kill: we hold its channel open.
        let started = Self.startTime(spare)
        defer { if !Self.isDead(spare) && Self.startTime(spare) == started { kill(spare, SIGKILL) } }
        // Idle once it has opened the store (it asks for the parent-death signal before that).
        let database = root + "/var/db/db.sqlite"
        for _ in 0..<1000 where !FileManager.default.fileExists(atPath: database) { usleep(10_000) }
        #expect(FileManager.default.fileExists(atPath: database))
        usleep(200_000)
        #expect(!Self.isDead(spare), "the spare waits for a connection while its daemon lives")
        kill(shell, SIGKILL)
        var status: Int32 = 0
        waitpid(shell, &status, 0)
        #expect(Self.waitDead(spare, seconds: 10), "the idle spare is gone with its daemon although its channel is open")
    }
}
