import Glibc
import StoreFormats
import LocalStore
import LinuxSystem
@testable import Builder

/// A private store under /var/tmp (not /tmp: the chroot has its own /tmp) holding a busybox
/// tree (`bin/busybox` plus applet symlinks), and helpers to write derivations into it.
final class BuildFixture {
    let root: String
    let store: LocalStore
    let configuration: StoreConfiguration
    let busybox: StorePath
    var storeDirectory: StoreDirectory { configuration.layout.storeDirectory }
    var derivations: [StorePath: Derivation] = [:]

    static var hasBusybox: Bool { access("/bin/busybox", X_OK) == 0 }

    init() throws {
        var template = Array("/var/tmp/cloister-build-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw TestFailure("mkdtemp failed") }
        root = String(cString: p)
        chmod(root, 0o755)
        let layout = StoreLayout(storeDirectory: try StoreDirectory(root + "/store"), stateDirectory: root + "/state",
                                 logDirectory: root + "/log", configurationDirectory: root + "/etc")
        configuration = StoreConfiguration(layout: layout, fsyncMetadata: false, reservedSpace: 0)
        store = try LocalStore(configuration: configuration)
        mkdir(root + "/tmp", 0o755)

        // busybox tree → NAR → store.
        let tree = root + "/busybox-tree"
        shell("mkdir -p '\(tree)/bin' && cp /bin/busybox '\(tree)/bin/busybox' && chmod 555 '\(tree)/bin/busybox'")
        for applet in ["sh", "mkdir", "cat", "chmod", "ln", "sleep", "id", "ls", "touch", "stat", "cp", "rm", "seq"] {
            shell("ln -s busybox '\(tree)/bin/\(applet)'")
        }
        let (bytes, _) = try NARDumper.dump(path: tree, to: [UInt8]())
        busybox = try store.addToStore(nar: ByteArraySource(bytes), name: "busybox", method: .recursive)
    }

    deinit { shell("chmod -R u+w '\(root)' 2>/dev/null; rm -rf '\(root)'") }

    func absolute(_ path: StorePath) -> String { path.absolute(in: storeDirectory) }

    var settings: BuildSettings {
        var s = BuildSettings()
        s.temporaryDirectory = root + "/tmp"
        s.userPoolDirectory = root + "/state/userpool"
        return s
    }

    /// Writes a derivation running `script` with busybox sh; `inputs` are input derivations
    /// (their `out`), exported to the script as `$in0`, `$in1`, …; `sources` are store items
    /// added as inputs besides busybox.
    func derivation(_ name: String, script: String, inputs: [StorePath] = [], outputs: [String] = ["out"],
                    env extra: [String: String] = [:], fixed: (IngestionMethod, Hash)? = nil,
                    sources: [StorePath] = []) throws -> StorePath {
        var env: [[UInt8]: [UInt8]] = [:]
        env[Array("PATH".utf8)] = Array((absolute(busybox) + "/bin").utf8)
        env[Array("name".utf8)] = Array(name.utf8)
        for (i, input) in inputs.enumerated() {
            guard let out = derivations[input]?.outputs["out"]?.path else { throw TestFailure("unknown input") }
            env[Array("in\(i)".utf8)] = Array(absolute(out).utf8)
        }
        for (k, v) in extra { env[Array(k.utf8)] = Array(v.utf8) }
        let outputKinds: [String: DerivationOutput] = fixed.map { ["out": .fixed(busybox, method: $0.0, hash: $0.1)] }
            ?? Dictionary(uniqueKeysWithValues: outputs.map { ($0, DerivationOutput.inputAddressed(busybox)) })
        var drv = Derivation(outputs: outputKinds,
                             inputDerivations: Dictionary(uniqueKeysWithValues: inputs.map { ($0, Set(["out"])) }),
                             inputSources: Set(sources).union([busybox]), platform: "x86_64-linux",
                             builder: Array((absolute(busybox) + "/bin/sh").utf8),
                             args: [Array("-c".utf8), Array(script.utf8)], env: env)
        let known = derivations
        var hasher = DerivationHasher(store: storeDirectory) { (path: StorePath) throws(FormatError) -> Derivation in
            guard let d = known[path] else { throw FormatError.invalidStorePath(path.baseName, reason: "unknown") }
            return d
        }
        try drv.fillInOutputPaths(name: name, hasher: &hasher, rules: .guix)
        let drvPath = try store.addTextToStore(name: name + ".drv", contents: drv.render(in: storeDirectory),
                                               references: Set(inputs).union([busybox]).union(sources))
        derivations[drvPath] = drv
        return drvPath
    }

    func output(_ drvPath: StorePath, _ name: String = "out") -> StorePath? { derivations[drvPath]?.outputs[name]?.path }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Runs a shell command, returning its stdout (nil if it could not run or exited non-zero).
@discardableResult
func shell(_ command: String) -> String? {
    guard let f = popen(command, "r") else { return nil }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = fread(&buf, 1, buf.count, f)
        if n <= 0 { break }
        out += buf[0..<n]
    }
    let status = pclose(f)
    return status == 0 ? String(decoding: out, as: UTF8.self) : nil
}

/// guixbuilder01..04 in group guixbuild (created if absent; root only).
func ensureBuildUsers() -> Bool {
    shell("getent group guixbuild >/dev/null || groupadd --system guixbuild") != nil
        && (1...4).allSatisfy { i in
            let name = "guixbuilder0\(i)"
            return shell("id \(name) >/dev/null 2>&1 || useradd -g guixbuild -G guixbuild -d /var/empty -s /usr/sbin/nologin -M -r \(name)") != nil
        }
}

/// Collects events from build threads.
final class EventLog: @unchecked Sendable {
    private let lock = ConditionLock()
    private var events: [BuildEvent] = []
    func append(_ e: BuildEvent) { lock.withLock { events.append(e) } }
    var messages: [String] {
        lock.withLock {
            events.compactMap {
                switch $0 {
                case .message(let m), .building(let m): m
                default: nil
                }
            }
        }
    }
    var output: String {
        lock.withLock {
            var bytes: [UInt8] = []
            for case .output(_, _, let b) in events { bytes += b }
            return String(decoding: bytes, as: UTF8.self)
        }
    }
}
