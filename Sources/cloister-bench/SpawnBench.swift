import Glibc
import LinuxSystem
import Sandbox

/// Sandbox spawn + wait latency of `/bin/busybox true` against a bare posix_spawn + wait of the
/// same program (swift-stack.md §1.3 measured ~1.1 ms against ~0.5 ms here). Two sandboxes:
/// a minimal one (tmpfs root holding busybox and /dev/null, every namespace), and the full Guix
/// build environment of guix-daemon.md §1 including creating and removing the chroot and the
/// build directory (`-guix`), and the same without that preparation and cleanup
/// (`-guix-spawn-wait`). User-namespace mode, so it runs as root and as an ordinary user.
enum SpawnBench {
    static let count = 200
    static let warmup = 10

    static func run(_ work: BenchDirectory) throws {
        let busybox = "/bin/busybox"
        guard HostPath.exists(busybox) else {
            print("bench spawn: skipped (no \(busybox); apt install busybox-static)")
            return
        }
        let base = work.path + "/spawn-\(getpid())"
        let store = base + "/store"
        let input = store + "/0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-busybox"
        for dir in [base, store, input, input + "/bin", base + "/root", base + "/chroots", base + "/tmp"] { mkdir(dir, 0o755) }
        defer { _ = try? FileDescriptor.open(work.path, [.readOnly, .directory]).removeTree(at: Array(base.split(separator: "/").last!.utf8)) }
        try copyFile(busybox, to: input + "/bin/busybox")

        let identity = SandboxIdentity.userNamespace(insideUID: 30001, insideGID: 30000,
                                                     hostUID: ProcessIdentity.userID, hostGID: ProcessIdentity.groupID)
        let minimal = SandboxSpec(
            root: RootPlan(directory: base + "/root", kind: .tmpfs, entries: [
                .bind(inside: "/bin/busybox", outside: busybox, options: [.readOnly]),
                .bind(inside: "/dev/null", outside: "/dev/null"),
            ], finalMode: 0o555),
            identity: identity, program: "/bin/busybox", arguments: [Array("true".utf8)], environment: [])

        var reference: [Double] = []
        var sandboxed: [Double] = []
        var guix: [Double] = []
        var guixSpawn: [Double] = []
        var serial = 0
        for round in 0..<(count + warmup) {
            // Interleaved so that load changes hit all three alike.
            let t0 = now()
            try posixSpawnAndWait(busybox)
            let t1 = now()
            let process = try Sandbox.spawn(minimal)
            let outcome = try process.wait()
            let t2 = now()
            guard outcome.status.isSuccess else { throw BenchError(text: "minimal sandbox: \(outcome.status)") }

            serial += 1
            let chroot = base + "/chroots/\(serial)"
            mkdir(chroot, 0o755)
            let dir = try BuildDirectory.create(temporaryDirectory: base + "/tmp", derivationName: "true.drv", owner: nil)
            let env = ChrootEnvironment(derivationName: "true.drv", storeDirectory: "/gnu/store", realStoreDirectory: store,
                                        inputPaths: ["/gnu/store/0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-busybox"],
                                        chrootDirectory: chroot, buildDirectory: dir, identity: identity,
                                        builder: "/gnu/store/0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-busybox/bin/busybox",
                                        arguments: [Array("true".utf8)])
            let spec = try env.spec()
            let t25 = now()
            let full = try Sandbox.spawn(spec)
            let fullOutcome = try full.wait()
            let t26 = now()
            try dir.remove()
            _ = try? FileDescriptor.open(base + "/chroots", [.readOnly, .directory]).removeTree(at: Array("\(serial)".utf8))
            let t3 = now()
            guard fullOutcome.status.isSuccess else { throw BenchError(text: "guix sandbox: \(fullOutcome.status)") }
            if round >= warmup {
                reference.append(t1 - t0)
                sandboxed.append(t2 - t1)
                guix.append(t3 - t2)
                guixSpawn.append(t26 - t25)
            }
        }
        let ref = median(reference) * 1000
        report("spawn-sandbox-minimal", value: median(sandboxed) * 1000, unit: "ms", reference: ref, referenceName: "posix_spawn")
        report("spawn-sandbox-guix-spawn-wait", value: median(guixSpawn) * 1000, unit: "ms", reference: ref, referenceName: "posix_spawn")
        report("spawn-sandbox-guix", value: median(guix) * 1000, unit: "ms", reference: ref, referenceName: "posix_spawn")
    }

    struct BenchError: Error, CustomStringConvertible {
        let text: String
        var description: String { text }
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }

    static func posixSpawnAndWait(_ path: String) throws {
        var pid: pid_t = 0
        // argv[0] "true" picks busybox's applet, as in the sandboxes.
        var argv: [UnsafeMutablePointer<CChar>?] = [strdup("true"), nil]
        defer { for arg in argv { free(arg) } }
        let rc = posix_spawn(&pid, path, nil, nil, &argv, environ)
        if rc != 0 { throw BenchError(text: "posix_spawn: \(rc)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if status != 0 { throw BenchError(text: "posix_spawn true: status \(status)") }
    }

    static func copyFile(_ from: String, to: String) throws {
        let source = try FileDescriptor.open(from, [.readOnly])
        let bytes = try source.readAll()
        let target = try FileDescriptor.open(to, [.writeOnly, .create, .exclusive], mode: 0o755)
        try target.writeAll(bytes)
    }
}
