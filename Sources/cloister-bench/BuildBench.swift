import Glibc
import LinuxSystem
import LocalStore
import StoreFormats
import Builder

/// Builds through the Builder API (user-namespace mode, so it runs as root or as a user):
/// - `build-trivial`: per-build latency of a one-derivation request whose builder is
///   `busybox sh -c 'mkdir $out'`, request → registered output (plan, locks, build tree and
///   chroot, sandbox, canonicalisation, NAR scan, registration, gzip log), next to a bare
///   posix_spawn + wait of the same `sh -c 'mkdir DIR'`.
/// - `build-dag`: a 1,000-derivation DAG (each node depends on its parent in a binary tree)
///   built in one request with max-jobs 2, in builds/s, next to 1,000 sequential bare spawns.
enum BuildBench {
    static func run(_ work: BenchDirectory) throws {
        guard HostPath.exists("/bin/busybox") else {
            print("bench build: skipped (no /bin/busybox; apt install busybox-static)")
            return
        }
        let base = work.path + "/build-\(getpid())"
        mkdir(base, 0o755)
        defer { _ = shellRemove(base) }
        let layout = StoreLayout(storeDirectory: try StoreDirectory(base + "/store"), stateDirectory: base + "/state",
                                 logDirectory: base + "/log", configurationDirectory: base + "/etc")
        let store = try LocalStore(configuration: StoreConfiguration(layout: layout, reservedSpace: 0))
        mkdir(base + "/tmp", 0o755)
        let tree = base + "/busybox-tree"
        mkdir(tree, 0o755)
        mkdir(tree + "/bin", 0o755)
        try SpawnBench.copyFile("/bin/busybox", to: tree + "/bin/busybox")
        for applet in ["sh", "mkdir"] { symlink("busybox", tree + "/bin/" + applet) }
        let (nar, _) = try NARDumper.dump(path: tree, to: [UInt8]())
        let busybox = try store.addToStore(nar: ByteArraySource(nar), name: "busybox", method: .recursive)
        let bin = busybox.absolute(in: layout.storeDirectory) + "/bin"

        var settings = BuildSettings()
        settings.temporaryDirectory = base + "/tmp"
        settings.maxBuildJobs = 1
        let writer = DerivationWriter(store: store, busybox: busybox, bin: bin)

        // Per-build latency, interleaved with the reference.
        let rounds = 100, warmup = 5
        var built: [Double] = []
        var bare: [Double] = []
        for i in 0..<(rounds + warmup) {
            let drv = try writer.write("trivial-\(i)", inputs: [])
            let t0 = now()
            let results = Builder(store: store, settings: settings).build([.derivation(drv)])
            let t1 = now()
            guard results[0].status == .built else { throw SpawnBench.BenchError(text: "trivial build: \(results[0].errorMessage)") }
            try spawnAndWait(bin + "/busybox", ["sh", "-c", "mkdir \(base)/tmp/bare-\(i)"])
            let t2 = now()
            if i >= warmup {
                built.append(t1 - t0)
                bare.append(t2 - t1)
            }
        }
        report("build-trivial-latency", value: SpawnBench.median(built) * 1000, unit: "ms",
               reference: SpawnBench.median(bare) * 1000, referenceName: "posix_spawn+wait")

        // 1,000-derivation DAG, max-jobs 2.
        let count = 1000
        var nodes: [StorePath] = []
        for i in 0..<count {
            let inputs = i == 0 ? [] : [nodes[(i - 1) / 2]]
            nodes.append(try writer.write("dag-\(i)", inputs: inputs))
        }
        settings.maxBuildJobs = 2
        let t0 = now()
        let results = Builder(store: store, settings: settings).build(nodes.map { .derivation($0) })
        let t1 = now()
        let failed = results.filter { !$0.isSuccess }
        guard failed.isEmpty else { throw SpawnBench.BenchError(text: "dag: \(failed.count) failed: \(failed[0].errorMessage)") }
        for i in 0..<count { try spawnAndWait(bin + "/busybox", ["sh", "-c", "mkdir \(base)/tmp/dag-bare-\(i)"]) }
        let t2 = now()
        report("build-dag-1000-max-jobs-2", value: Double(count) / (t1 - t0), unit: "builds/s",
               reference: Double(count) / (t2 - t1), referenceName: "sequential posix_spawn+wait")
    }

    static func spawnAndWait(_ path: String, _ arguments: [String]) throws {
        var pid: pid_t = 0
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for arg in argv { free(arg) } }
        let rc = posix_spawn(&pid, path, nil, nil, &argv, environ)
        if rc != 0 { throw SpawnBench.BenchError(text: "posix_spawn: \(rc)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if status != 0 { throw SpawnBench.BenchError(text: "bare spawn: status \(status)") }
    }

    static func shellRemove(_ path: String) -> Bool {
        guard let parent = path.split(separator: "/").dropLast().reduce("", { $0 + "/" + $1 }) as String?,
              let name = path.split(separator: "/").last else { return false }
        return (try? FileDescriptor.open(parent, [.readOnly, .directory]).removeTree(at: Array(name.utf8))) != nil
    }
}

/// Writes `busybox sh -c 'mkdir $out'` derivations into the store.
struct DerivationWriter {
    let store: LocalStore
    let busybox: StorePath
    let bin: String

    func write(_ name: String, inputs: [StorePath]) throws -> StorePath {
        var env: [[UInt8]: [UInt8]] = [Array("PATH".utf8): Array(bin.utf8), Array("name".utf8): Array(name.utf8)]
        for (i, input) in inputs.enumerated() { env[Array("in\(i)".utf8)] = Array(input.absolute(in: store.storeDirectory).utf8) }
        var drv = Derivation(outputs: ["out": .inputAddressed(busybox)],
                             inputDerivations: Dictionary(uniqueKeysWithValues: inputs.map { ($0, Set(["out"])) }),
                             inputSources: [busybox], platform: "x86_64-linux", builder: Array((bin + "/sh").utf8),
                             args: [Array("-c".utf8), Array("mkdir $out".utf8)], env: env)
        let s = store
        var hasher = DerivationHasher(store: store.storeDirectory) { (path: StorePath) throws(FormatError) -> Derivation in
            do {
                let bytes = try FileDescriptor.open(path.absolute(in: s.storeDirectory), [.readOnly]).readAll()
                return try Derivation(aterm: bytes, store: s.storeDirectory, rules: .guix)
            } catch let error as FormatError { throw error } catch {
                throw FormatError.invalidStorePath(path.baseName, reason: "\(error)")
            }
        }
        try drv.fillInOutputPaths(name: name, hasher: &hasher, rules: .guix)
        return try store.addTextToStore(name: name + ".drv", contents: drv.render(in: store.storeDirectory),
                                        references: Set(inputs).union([busybox]))
    }
}
