import Glibc
import LinuxSystem
import LocalStore
import StoreFormats
import WorkerProtocol

/// Builds through the socket: `cloister-daemon` (the binary beside this one, on a temp store,
/// `--log-compression=bzip2` as in `bench-vs-nix-daemon`) driven by the worker-protocol client:
/// - `build-socket-latency`: one trivial derivation (`busybox sh -c 'mkdir $out'`) per
///   BuildPaths request, client request → reply with the output registered, median of 50;
/// - `build-socket-dag-1000-max-jobs-2`: the 1,000-derivation binary-tree DAG of `build-dag`
///   in one BuildPaths request with max-jobs 2 (SetOptions), in builds/s.
/// Each next to a bare posix_spawn + wait of the same `sh -c 'mkdir DIR'` in the same run.
enum SocketBuildBench {
    static func run(_ work: BenchDirectory) throws {
        guard HostPath.exists("/bin/busybox") else {
            print("bench build-socket: skipped (no /bin/busybox; apt install busybox-static)")
            return
        }
        let selfPath = (try? FileDescriptor.currentDirectory.readLink(at: Array("/proc/self/exe".utf8))).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let daemonPath = String(selfPath[..<(selfPath.lastIndex(of: "/") ?? selfPath.endIndex)]) + "/cloister-daemon"
        guard access(daemonPath, X_OK) == 0 else {
            print("bench build-socket: skipped (build cloister-daemon beside cloister-bench: swift build -c release --scratch-path .build-release)")
            return
        }
        let dir = work.path + "/build-socket-\(getpid())"
        defer { _ = try? Program.run("/bin/rm", ["-rf", dir]) }
        _ = try Program.run("/bin/mkdir", ["-p", dir + "/tmp", dir + "/busybox/bin"])
        _ = try Program.run("/bin/chmod", ["755", dir])
        var env = ProcessEnvironment.current()
        env["NIX_STORE_DIR"] = dir + "/store"
        env["GUIX_STATE_DIRECTORY"] = dir + "/var"
        env["GUIX_LOG_DIRECTORY"] = dir + "/log"
        env["GUIX_CONFIGURATION_DIRECTORY"] = dir + "/etc"
        env["TMPDIR"] = dir + "/tmp"
        let socket = dir + "/sock"
        let daemon = try Program.start(daemonPath, ["--listen=" + socket, "--log-compression=bzip2"], environment: env,
                                       logPath: dir + "/daemon.log")
        defer { try? daemon.signal(SIGTERM); _ = try? daemon.wait() }
        for _ in 0..<500 where access(socket, F_OK) != 0 { usleep(10_000) }
        let store = try StoreDirectory(dir + "/store")

        var options = ClientOptions.nixDefault()
        options.integers[4] = 1  // max-jobs
        let fd = try Socket.connectUnix(path: socket)
        defer { try? fd.close() }
        let client = try WorkerClient(stream: FDStream(fd), storeDirectory: store, options: options)

        try SpawnBench.copyFile("/bin/busybox", to: dir + "/busybox/bin/busybox")
        for applet in ["sh", "mkdir"] { symlink("busybox", dir + "/busybox/bin/" + applet) }
        let (nar, _) = try NARDumper.dump(path: dir + "/busybox", to: [UInt8]())
        let busybox = try client.addToStore(name: "busybox", method: .fixed(.recursive, .sha256), nar: nar)
        let writer = ClientDerivationWriter(client: client, store: store, busybox: busybox)

        // Latency, interleaved with the reference.
        let rounds = 50, warmup = 3
        var built: [Double] = [], bare: [Double] = []
        for i in 0..<(rounds + warmup) {
            let drv = try writer.write("socket-trivial-\(i)", inputs: [])
            let t0 = now()
            try client.call(.buildPaths([.opaque(drv)], mode: 0))
            let t1 = now()
            try BuildBench.spawnAndWait(writer.bin + "/busybox", ["sh", "-c", "mkdir \(dir)/tmp/bare-\(i)"])
            let t2 = now()
            if i >= warmup { built.append(t1 - t0); bare.append(t2 - t1) }
        }
        report("build-socket-latency", value: SpawnBench.median(built) * 1000, unit: "ms",
               reference: SpawnBench.median(bare) * 1000, referenceName: "posix_spawn+wait")

        // 1,000-derivation DAG, max-jobs 2, one request.
        options.integers[4] = 2
        try client.call(.setOptions(options))
        let count = 1000
        var nodes: [StorePath] = []
        for i in 0..<count {
            nodes.append(try writer.write("socket-dag-\(i)", inputs: i == 0 ? [] : [nodes[(i - 1) / 2]]))
        }
        let t0 = now()
        try client.call(.buildPaths(nodes.map { .opaque($0) }, mode: 0))
        let t1 = now()
        for i in 0..<count { try BuildBench.spawnAndWait(writer.bin + "/busybox", ["sh", "-c", "mkdir \(dir)/tmp/dag-bare-\(i)"]) }
        let t2 = now()
        report("build-socket-dag-1000-max-jobs-2", value: Double(count) / (t1 - t0), unit: "builds/s",
               reference: Double(count) / (t2 - t1), referenceName: "sequential posix_spawn+wait")
    }
}

/// `busybox sh -c 'mkdir $out'` derivations added through the daemon (AddTextToStore).
struct ClientDerivationWriter {
    let client: WorkerClient
    let store: StoreDirectory
    let busybox: StorePath
    var bin: String { busybox.absolute(in: store) + "/bin" }

    func write(_ name: String, inputs: [StorePath]) throws -> StorePath {
        var env: [[UInt8]: [UInt8]] = [Array("PATH".utf8): Array(bin.utf8), Array("name".utf8): Array(name.utf8)]
        for (i, input) in inputs.enumerated() { env[Array("in\(i)".utf8)] = Array(input.absolute(in: store).utf8) }
        var drv = Derivation(outputs: ["out": .inputAddressed(busybox)],
                             inputDerivations: Dictionary(uniqueKeysWithValues: inputs.map { ($0, Set(["out"])) }),
                             inputSources: [busybox], platform: "x86_64-linux", builder: Array((bin + "/sh").utf8),
                             args: [Array("-c".utf8), Array("mkdir $out".utf8)], env: env)
        let s = store
        var hasher = DerivationHasher(store: store) { (path: StorePath) throws(FormatError) -> Derivation in
            do {
                let bytes = try FileDescriptor.open(path.absolute(in: s), [.readOnly]).readAll()
                return try Derivation(aterm: bytes, store: s, rules: .nix)
            } catch let error as FormatError { throw error } catch {
                throw FormatError.invalidStorePath(path.baseName, reason: "\(error)")
            }
        }
        try drv.fillInOutputPaths(name: name, hasher: &hasher, rules: .nix)
        return try client.addTextToStore(name: name + ".drv", text: drv.render(in: store), references: inputs + [busybox])
    }
}
