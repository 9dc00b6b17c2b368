import Foundation
import Glibc
import StoreFormats

/// A `cloister-daemon` process on a private store under /var/tmp (not /tmp: a build's chroot
/// has its own /tmp), listening on its default socket `<state>/daemon-socket/socket`, and the
/// `cloister` CLI pointed at it by the same environment variables. Stopped with SIGTERM.
/// Debian's Nix 2.8 client reaches it too (`nixClient`): NIX_REMOTE names the socket.
/// With `user` (root only), the directories are first prepared by `cloister setup --unprivileged
/// --user USER` (which creates the account if needed), and the daemon — a world-readable copy
/// of the executable — runs as that user through setpriv, as the unprivileged systemd unit does
/// (User=, the user's groups, no build group); its stderr goes to `<root>/daemon.log`.
final class CLIDaemon {
    let root: String
    let store: String
    let environment: [String: String]
    let process: Process
    var derivations: [StorePath: Derivation] = [:]

    struct Run: Equatable {
        var status: Int32
        var out: String
        var err: String
    }

    /// A derivation written to a file (not yet in the store) and what it will be called there.
    struct DerivationFile {
        var file: String
        var drvPath: String
        var output: String
        var path: StorePath
    }

    static let packageRoot: String = {
        var dir = URL(fileURLWithPath: #filePath)
        while dir.path != "/" && !FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
            dir = dir.deletingLastPathComponent()
        }
        return dir.path
    }()
    static var cloisterBinary: String { packageRoot + "/.build/debug/cloister" }
    static var daemonBinary: String { packageRoot + "/.build/debug/cloister-daemon" }
    static var binariesExist: Bool { access(cloisterBinary, X_OK) == 0 && access(daemonBinary, X_OK) == 0 }

    /// What `cloister setup` printed (unprivileged daemons only).
    private(set) var setupOutput = ""

    /// `daemonArguments` go to `cloister-daemon` (e.g. `--log-compression=bzip2`). A
    /// `storeDirectory` outside the daemon's root lets two daemons, one after the other, serve
    /// the same store prefix with their own databases (the caller removes it).
    init(daemonArguments: [String] = [], user: String? = nil, storeDirectory: String? = nil) throws {
        var template = Array("/var/tmp/cloister-cli-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw CLIFailure("mkdtemp failed") }
        root = String(cString: p)
        chmod(root, 0o755)
        store = storeDirectory ?? root + "/store"
        var env = ProcessInfo.processInfo.environment
        env["NIX_STORE_DIR"] = store
        env["GUIX_STATE_DIRECTORY"] = root + "/state"
        env["GUIX_LOG_DIRECTORY"] = root + "/log"
        env["GUIX_CONFIGURATION_DIRECTORY"] = root + "/etc"
        env["TMPDIR"] = root + "/tmp"
        env.removeValue(forKey: "GUIX_DAEMON_SOCKET")
        environment = env
        try FileManager.default.createDirectory(atPath: root + "/tmp", withIntermediateDirectories: true)
        process = Process()
        process.executableURL = URL(fileURLWithPath: Self.daemonBinary)
        process.arguments = daemonArguments
        process.environment = env
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        if let user {
            let setup = run(Self.cloisterBinary, ["setup", "--unprivileged", "--user", user])
            setupOutput = setup.out + setup.err
            guard setup.status == 0 else { throw CLIFailure("cloister setup --unprivileged: \(setupOutput)") }
            let uid = shell("id -u \(user)").out.trimmingCharacters(in: .whitespacesAndNewlines)
            let gid = shell("id -g \(user)").out.trimmingCharacters(in: .whitespacesAndNewlines)
            // The checkout may sit where the user cannot reach it (under /root in CI).
            let copied = shell("mkdir '\(root)/bin' && cp '\(Self.daemonBinary)' '\(root)/bin/' && chmod -R 755 '\(root)/bin' "
                               + "&& chown \(uid):\(gid) '\(root)/tmp' && : > '\(root)/daemon.log'")
            guard copied.status == 0, !uid.isEmpty, !gid.isEmpty else { throw CLIFailure("preparing for \(user): \(copied.err)") }
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = ["--reuid=\(uid)", "--regid=\(gid)", "--init-groups", "--", root + "/bin/cloister-daemon"] + daemonArguments
            process.standardError = FileHandle(forWritingAtPath: root + "/daemon.log")
        }
        try process.run()
        let socket = root + "/state/daemon-socket/socket"
        for _ in 0..<250 where !FileManager.default.fileExists(atPath: socket) { usleep(20_000) }
    }

    /// SIGTERM, then SIGKILL after 5 s; idempotent.
    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        for _ in 0..<250 where process.isRunning { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit {
        stop()
        _ = shell("chmod -R u+w '\(root)' 2>/dev/null; rm -rf '\(root)'")
    }

    func file(_ name: String, _ text: String) throws -> String {
        let path = root + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func cloister(_ arguments: [String], extra: [String: String] = [:]) -> Run {
        run(Self.cloisterBinary, arguments, extra: extra)
    }

    func shell(_ command: String) -> Run { run("/bin/sh", ["-c", command]) }

    func run(_ executable: String, _ arguments: [String], extra: [String: String] = [:]) -> Run {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        p.environment = environment.merging(extra) { $1 }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        do { try p.run() } catch { return Run(status: -1, out: "", err: "\(error)") }
        // Read both pipes concurrently so neither fills up.
        nonisolated(unsafe) var errData = Data()
        let reader = Thread { errData = err.fileHandleForReading.readDataToEndOfFile() }
        reader.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        while !reader.isFinished { usleep(1_000) }
        return Run(status: p.terminationStatus, out: String(decoding: outData, as: UTF8.self), err: String(decoding: errData, as: UTF8.self))
    }

    /// Environment for Debian's Nix 2.8 client talking to this daemon: its socket, a private
    /// nix.conf (no substituters; no client-side sandbox, the daemon builds), no user config,
    /// and the daemon's log directory (Nix 2.8 reads build logs itself, plain or .bz2 only).
    func nixClient() throws -> [String: String] {
        try FileManager.default.createDirectory(atPath: root + "/nixconf", withIntermediateDirectories: true)
        _ = try file("nixconf/nix.conf", "substituters =\nsandbox = false\n")
        return ["NIX_REMOTE": "unix://" + root + "/state/daemon-socket/socket", "NIX_CONF_DIR": root + "/nixconf",
                "NIX_USER_CONF_FILES": "", "NIX_LOG_DIR": root + "/log", "NIX_STATE_DIR": root + "/nixstate",
                "HOME": root]
    }

    /// `<root>/<name>/bin/busybox` (copied from busybox-static) with `applets` as symlinks to it.
    func busyboxTree(_ name: String, applets: [String]) throws -> String {
        let tree = root + "/" + name
        let made = shell("mkdir -p '\(tree)/bin' && cp /bin/busybox '\(tree)/bin/busybox' && cd '\(tree)/bin' && "
                         + applets.map { "ln -s busybox \($0)" }.joined(separator: " && "))
        guard made.status == 0 else { throw CLIFailure("busybox tree: \(made.err)") }
        return tree
    }

    /// busybox-static as a store item `busybox` (bin/busybox plus applet links), added with the CLI.
    func addBusybox() throws -> StorePath {
        let tree = try busyboxTree("busybox", applets: ["sh", "mkdir", "cat", "echo", "id", "ls", "sleep", "env", "hostname"])
        let added = cloister(["add", tree])
        guard added.status == 0 else { throw CLIFailure("add busybox: \(added.err)") }
        return try StorePath(parsing: added.out.trimmingCharacters(in: .whitespacesAndNewlines), in: try StoreDirectory(store))
    }

    /// Writes `<root>/<name>.drv` running `script` with busybox sh; each input's `out` is
    /// `$in0`, `$in1`, … in the builder's environment.
    func derivation(_ name: String, busybox: StorePath, script: String, inputs: [DerivationFile] = []) throws -> DerivationFile {
        let storeDirectory = try StoreDirectory(store)
        let bin = busybox.absolute(in: storeDirectory) + "/bin"
        var env: [[UInt8]: [UInt8]] = [Array("PATH".utf8): Array(bin.utf8), Array("name".utf8): Array(name.utf8)]
        for (i, input) in inputs.enumerated() { env[Array("in\(i)".utf8)] = Array(input.output.utf8) }
        var drv = Derivation(outputs: ["out": .inputAddressed(busybox)],
                             inputDerivations: Dictionary(uniqueKeysWithValues: inputs.map { ($0.path, Set(["out"])) }),
                             inputSources: [busybox], platform: "x86_64-linux",
                             builder: Array((bin + "/sh").utf8), args: [Array("-c".utf8), Array(script.utf8)], env: env)
        let known = derivations
        var hasher = DerivationHasher(store: storeDirectory) { (path: StorePath) throws(FormatError) -> Derivation in
            guard let d = known[path] else { throw FormatError.invalidStorePath(path.baseName, reason: "unknown") }
            return d
        }
        try drv.fillInOutputPaths(name: name, hasher: &hasher, rules: .guix)
        let bytes = drv.render(in: storeDirectory)
        let drvPath = try storeDirectory.makeTextPath(name: name + ".drv", contents: bytes,
                                                       references: (inputs.map(\.path) + [busybox]).sorted())
        derivations[drvPath] = drv
        let file = root + "/" + name + ".drv"
        guard FileManager.default.createFile(atPath: file, contents: Data(bytes)) else { throw CLIFailure("cannot write \(file)") }
        guard let output = drv.outputs["out"]?.path else { throw CLIFailure("no output path") }
        return DerivationFile(file: file, drvPath: drvPath.absolute(in: storeDirectory),
                              output: output.absolute(in: storeDirectory), path: drvPath)
    }
}

struct CLIFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
