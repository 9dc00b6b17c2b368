import Glibc
import LinuxSystem
import Testing
@testable import Sandbox

/// The daemon running as an ordinary user (guix-daemon.md §3): the test re-runs this test binary
/// as `nobody` through runuser, selecting `UnprivilegedChild`, which spawns sandboxes in
/// user-namespace mode and checks what they see.
@Suite(.serialized, .tags(.large), .enabled(if: geteuid() == 0 && getenv("CLOISTER_SANDBOX_CHILD") == nil))
struct UnprivilegedTests {
    @Test func sandboxSpawnedByAnOrdinaryUser() throws {
        let fixture = try ProbeFixture.shared.get()
        let nobody = try #require(try UserAccount.named("nobody"))
        let work = fixture.base + "/unprivileged"
        try run(["/bin/mkdir", "-p", work + "/chroots", work + "/tmp"])
        try run(["/bin/chown", "-R", "\(nobody.uid):\(nobody.gid)", work])
        // A copy in the fixture's world-readable directory: the checkout (and .build) may sit
        // where `nobody` cannot reach, e.g. under /root in CI. Its libraries are system paths.
        let binary = work + "/tests.xctest"
        try run(["/bin/cp", try HostPath.canonical("/proc/self/exe"), binary])
        chmod(binary, 0o755)
        let (status, output) = try capture(["/usr/sbin/runuser", "-u", "nobody", "--", "/usr/bin/env",
                                            "CLOISTER_SANDBOX_CHILD=\(work)", "CLOISTER_SANDBOX_STORE=\(fixture.realStore)",
                                            binary, "--testing-library", "swift-testing", "--filter", "UnprivilegedChild"])
        #expect(status == 0, "child run failed:\n\(output)")
        #expect(output.contains("Suite UnprivilegedChild passed"), "child suite did not run:\n\(output)")
    }
}

/// Runs only inside the runuser'd child above.
@Suite(.serialized, .enabled(if: getenv("CLOISTER_SANDBOX_CHILD") != nil && geteuid() != 0))
struct UnprivilegedChild {
    let work = String(cString: getenv("CLOISTER_SANDBOX_CHILD"))
    let realStore = String(cString: getenv("CLOISTER_SANDBOX_STORE"))
    let busybox = "/gnu/store/0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-busybox"
    let data = "/gnu/store/1bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-data"

    func sh(_ script: String, chroot: String) throws -> String {
        mkdir(chroot, 0o750)
        let dir = try BuildDirectory.create(temporaryDirectory: work + "/tmp", derivationName: "probe.drv", owner: nil)
        defer { try? dir.remove() }
        let env = ChrootEnvironment(
            derivationName: "probe.drv", realStoreDirectory: realStore, inputPaths: [busybox, data], chrootDirectory: chroot,
            buildDirectory: dir, identity: .userNamespace(insideUID: 30001, insideGID: 30000, hostUID: getuid(), hostGID: getgid()),
            builder: busybox + "/bin/busybox", arguments: [Array("sh".utf8), Array("-c".utf8), Array(script.utf8)])
        let process = try Sandbox.spawn(try env.spec())
        var output: [UInt8] = []
        _ = try process.wait { output += $0 }
        return String(decoding: output, as: UTF8.self)
    }

    /// The kernel prints map fields as `%10u`.
    func pad(_ value: UInt32) -> String {
        let digits = String(value)
        return String(repeating: " ", count: max(0, 10 - digits.count)) + digits
    }

    @Test func whatTheBuilderSees() throws {
        #expect(try sh("id -u; id -g; echo $$", chroot: work + "/chroots/1") == "30001\n30000\n1\n")
        #expect(try sh("cat /proc/self/uid_map /proc/self/gid_map", chroot: work + "/chroots/2")
                == "\(pad(30001)) \(pad(getuid())) \(pad(1))\n\(pad(30000)) \(pad(getgid())) \(pad(1))\n")
        #expect(try sh("ls /", chroot: work + "/chroots/3") == "dev\netc\ngnu\nproc\ntmp\n")
        let ro = try sh("echo x > \(data)/new; mount -o remount,bind,rw \(data); echo rc=$?", chroot: work + "/chroots/4")
        #expect(ro.contains("Read-only file system") && ro.hasSuffix("rc=1\n"))
        #expect(try sh("nc 127.0.0.1 80 </dev/null", chroot: work + "/chroots/5").contains("Connection refused"))
        #expect(try sh("cat /etc/passwd", chroot: work + "/chroots/6")
                == "nixbld:x:30001:30000:Nix build user:/:/noshell\nnobody:x:65534:65534:Nobody:/:/noshell\n")
    }
}

/// Runs a host command and returns its exit status and combined output.
func capture(_ argv: [String]) throws -> (Int32, String) {
    let log = try makePipe()
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, log.write.rawValue, 1)
    posix_spawn_file_actions_adddup2(&actions, log.write.rawValue, 2)
    var pid: pid_t = 0
    var cArgs = argv.map { strdup($0) }
    cArgs.append(nil)
    defer { for arg in cArgs { free(arg) } }
    let rc = posix_spawn(&pid, argv[0], &actions, nil, cArgs, environ)
    try log.write.close()
    guard rc == 0 else { return (-1, "posix_spawn failed: \(rc)") }
    let output = try log.read.readAll()
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return (status, String(decoding: output, as: UTF8.self))
}
