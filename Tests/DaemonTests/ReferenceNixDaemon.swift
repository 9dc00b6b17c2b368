import Foundation
import Glibc

/// Debian's own `nix-daemon` (Nix 2.8) on a private store under `root` (`<root>/store`, state
/// `<root>/var`, socket `<root>/var/daemon-socket/socket`), as root with no build users and no
/// substituters; stopped and removed on deinit. The reference a Cloister daemon is compared with.
final class ReferenceNixDaemon: @unchecked Sendable {
    let root: String
    let process: Process
    var socket: String { root + "/var/daemon-socket/socket" }

    static var available: Bool { geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/nix-daemon") }

    init(root: String) throws {
        self.root = root
        try FileManager.default.createDirectory(atPath: root + "/etc", withIntermediateDirectories: true)
        try "build-users-group =\nsandbox = false\nsubstituters =\n".write(toFile: root + "/etc/nix.conf", atomically: true, encoding: .utf8)
        var env = ProcessInfo.processInfo.environment
        for name in ["NIX_REMOTE", "GUIX_DAEMON_SOCKET"] { env.removeValue(forKey: name) }
        env["NIX_STORE_DIR"] = root + "/store"
        env["NIX_STATE_DIR"] = root + "/var"
        env["NIX_LOG_DIR"] = root + "/log"
        env["NIX_CONF_DIR"] = root + "/etc"
        env["NIX_USER_CONF_FILES"] = ""
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/nix-daemon")
        process.environment = env
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        for _ in 0..<250 where !FileManager.default.fileExists(atPath: socket) { usleep(20_000) }
    }

    deinit {
        process.terminate()
        for _ in 0..<250 where process.isRunning { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        _ = try? FileManager.default.removeItem(atPath: root)
    }
}
