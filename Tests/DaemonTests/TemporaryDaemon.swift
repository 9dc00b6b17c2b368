import Foundation
import Glibc
import StoreFormats
import WorkerProtocol

/// A `cloister-daemon` of the debug build serving a private store under a fresh temp directory
/// (`<root>/store`, state `<root>/var`, socket `<root>/sock`), stopped and removed on deinit.
/// `environment` points both Cloister's tools and Debian's Nix 2.8 client at it.
final class TemporaryDaemon: @unchecked Sendable {
    let root: String
    let process: Process
    let environment: [String: String]

    var socket: String { root + "/sock" }

    static var binary: String {
        var dir = URL(fileURLWithPath: #filePath)
        while dir.path != "/" && !FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent(".build/debug/cloister-daemon").path
    }

    /// `label` names the temp directory, so a leftover says which suite made it; `arguments`
    /// are guix-daemon options added to `--listen`. With
    /// `keepLog` the daemon's stderr goes to `<root>/daemon.log` (`log()`), else nowhere.
    init(label: String, arguments: [String] = [], extraEnvironment: [String: String] = [:], keepLog: Bool = false) throws {
        root = NSTemporaryDirectory() + "cloister-\(label)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        var env = ProcessInfo.processInfo.environment
        env["NIX_STORE_DIR"] = root + "/store"
        env["GUIX_STATE_DIRECTORY"] = root + "/var"
        env["GUIX_LOG_DIRECTORY"] = root + "/log"
        env["GUIX_CONFIGURATION_DIRECTORY"] = root + "/etc"
        env["NIX_REMOTE"] = "unix://" + root + "/sock"
        env["NIX_STATE_DIR"] = root + "/nixstate"
        env["HOME"] = root
        env.merge(extraEnvironment) { $1 }
        environment = env
        process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["--listen=" + root + "/sock"] + arguments
        process.environment = env
        if keepLog { FileManager.default.createFile(atPath: root + "/daemon.log", contents: nil) }
        process.standardError = FileHandle(forWritingAtPath: keepLog ? root + "/daemon.log" : "/dev/null")
        try process.run()
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: root + "/sock") { usleep(20_000) }
    }

    /// What the daemon wrote to stderr so far (with `keepLog`).
    func log() -> String { (try? String(contentsOfFile: root + "/daemon.log", encoding: .utf8)) ?? "" }

    deinit {
        process.terminate()
        for _ in 0..<250 where process.isRunning { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(atPath: root)
    }
}

extension TemporaryDaemon {
    /// The daemon's client environment for a nix-store run as another user, whose Nix state
    /// and configuration live in `home`.
    func clientEnvironment(home: String) -> [String: String] {
        var env = environment
        env["HOME"] = home
        env["NIX_STATE_DIR"] = home + "/state"
        env["NIX_CONF_DIR"] = home
        env["NIX_USER_CONF_FILES"] = ""
        return env
    }

    /// A worker-protocol client of this daemon in `version`'s dialect whose SetOptions asks for
    /// `verbosity`.
    func client(_ version: ProtocolVersion = .nix28, verbosity: UInt64) throws -> WorkerClient {
        let fd = try SocketFD(connectingTo: socket)
        var options = version == .guix ? ClientOptions.guixDefault : ClientOptions.nixDefault()
        options.integers[3] = verbosity
        return try WorkerClient(stream: fd, version: version, storeDirectory: try StoreDirectory(root + "/store"), options: options)
    }
}
