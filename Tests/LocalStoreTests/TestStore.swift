import Glibc
import StoreFormats
@testable import LocalStore

/// A private store under /tmp (store, state, log and config directories), removed on deinit.
final class TestStore {
    let root: String
    let environment: [String: String]

    /// Under `base` (e.g. /dev/shm for process-heavy loops), else /tmp.
    init(base: String = "/tmp") throws {
        var template = Array("\(base)/cloister-store-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw TestFailure("mkdtemp failed") }
        root = String(cString: p)
        environment = [
            "NIX_STORE_DIR": root + "/store", "GUIX_STATE_DIRECTORY": root + "/state",
            "GUIX_LOG_DIRECTORY": root + "/log", "GUIX_CONFIGURATION_DIRECTORY": root + "/etc",
        ]
    }

    var layout: StoreLayout { (try? StoreLayout(environment: environment)) ?? StoreLayout() }

    deinit { _ = shell("chmod -R u+w '\(root)' 2>/dev/null; rm -rf '\(root)'") }
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

func makeDirectories(_ path: String) { shell("mkdir -p '\(path)'") }

extension TestStore {
    var configuration: StoreConfiguration {
        var c = (try? StoreConfiguration(environment: environment)) ?? StoreConfiguration()
        c.reservedSpace = 0
        return c
    }

    func open(_ adjust: (inout StoreConfiguration) -> Void = { _ in }) throws -> LocalStore {
        var c = configuration
        adjust(&c)
        return try LocalStore(configuration: c)
    }
}

/// A store path with a hash part derived from `seed` (nothing needs to exist on disk).
func fakePath(_ name: String, seed: String? = nil) -> StorePath {
    let digest = Array(Hasher.hash(.sha256, seed ?? name).bytes.prefix(20))
    return try! StorePath(digest: digest, name: name)
}

func fakeInfo(_ path: StorePath, references: Set<StorePath> = [], deriver: StorePath? = nil) -> ValidPathInfo {
    ValidPathInfo(path: path, narHash: Hasher.hash(.sha256, path.baseName), references: references,
                  deriver: deriver, narSize: 120)
}

extension TestStore {
    /// Runs `body` with a store handle that is closed afterwards, like a client process that
    /// exits: its temp roots stop counting.
    func populate<T>(_ body: (LocalStore) throws -> T) throws -> T {
        let result = try { () throws -> T in try body(try open()) }()
        // The handle is closed, but a process forked by a parallel test may still hold a copy
        // of its temp-roots fd (and so its OFD lock) until that child execs. A real exited
        // process holds nothing, so remove the file as the next GC would.
        shell("rm -f '\(root)/state/temproots/'*")
        return result
    }
}

/// A valid derivation `name` with the given outputs: returns its ATerm and output paths.
func makeDerivation(_ name: String, outputs names: [String] = ["out"], in store: StoreDirectory) throws -> (text: [UInt8], outputs: [String: StorePath]) {
    let placeholder = fakePath("placeholder")
    var outputs: [String: DerivationOutput] = [:]
    var env: [[UInt8]: [UInt8]] = [Array("name".utf8): Array(name.utf8)]
    for n in names { outputs[n] = .inputAddressed(placeholder); env[Array(n.utf8)] = [] }
    var drv = Derivation(outputs: outputs, platform: "x86_64-linux", builder: Array("/bin/sh".utf8), env: env)
    var hasher = DerivationHasher(store: store)
    let paths = try drv.computedOutputPaths(name: name, hasher: &hasher)
    for (n, p) in paths {
        drv.outputs[n] = .inputAddressed(p)
        drv.env[Array(n.utf8)] = Array(p.absolute(in: store).utf8)
    }
    return (drv.render(in: store), paths)
}
