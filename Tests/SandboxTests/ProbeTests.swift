import Glibc
import LinuxSystem
import Testing
@testable import Sandbox

/// What a builder sees inside the Guix build environment (guix-daemon.md §1, issue 5 probe list),
/// in both daemon modes: root with a build user, and a user namespace (`30001 <uid> 1`).
@Suite(.serialized, .tags(.large), .enabled(if: geteuid() == 0))
struct ProbeTests {
    typealias Mode = ProbeFixture.Mode
    let fixture: ProbeFixture

    init() throws { fixture = try ProbeFixture.shared.get() }

    @Test(arguments: Mode.allCases)
    func builderIsPidOne(_ mode: Mode) throws {
        #expect(try fixture.sh(mode, "echo $$") == "1\n")
    }

    @Test(arguments: Mode.allCases)
    func identity(_ mode: Mode) throws {
        let output = try fixture.sh(mode, "id")
        switch mode {
        case .pool:
            let uid = fixture.buildUser.uid, gid = fixture.buildGroup.gid
            #expect(output == "uid=\(uid)(nixbld) gid=\(gid)(nixbld) groups=\(gid)(nixbld)\n")
        case .userNamespace:
            // setgroups is denied; the daemon's own groups show up unmapped (65534) if at all.
            #expect(output.hasPrefix("uid=30001(nixbld) gid=30000(nixbld)"))
            #expect(!output.contains("(root)"))
        }
        // SEC-15: no capabilities left, no_new_privs set.
        let status = try fixture.sh(mode, "grep -E '^(CapEff|CapPrm|NoNewPrivs)' /proc/self/status")
        #expect(status == "CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nNoNewPrivs:\t1\n")
    }

    @Test(arguments: Mode.allCases)
    func rootListing(_ mode: Mode) throws {
        #expect(try fixture.sh(mode, "ls /") == "dev\netc\ngnu\nproc\ntmp\n")
        #expect(try fixture.sh(mode, "ls -a /gnu/store") == ".\n..\n\(fixture.busybox.dropFirst(11))\n\(fixture.data.dropFirst(11))\n")
        #expect(try fixture.sh(mode, "stat -c %a /; stat -c %a /tmp; stat -c %a /gnu/store") == "555\n1777\n1775\n")
    }

    @Test(arguments: Mode.allCases)
    func etcFilesHaveGuixBytes(_ mode: Mode) throws {
        let (uid, gid) = mode == .pool ? (fixture.buildUser.uid, fixture.buildGroup.gid) : (30001, 30000)
        #expect(try fixture.sh(mode, "cat /etc/passwd") == "nixbld:x:\(uid):\(gid):Nix build user:/:/noshell\nnobody:x:65534:65534:Nobody:/:/noshell\n")
        #expect(try fixture.sh(mode, "cat /etc/group") == "nixbld:!:\(gid):\n")
        #expect(try fixture.sh(mode, "cat /etc/hosts") == "127.0.0.1 localhost\n::1 localhost\n")
        #expect(try fixture.sh(mode, "ls /etc") == "group\nhosts\npasswd\n")
    }

    @Test(arguments: Mode.allCases)
    func exactEnvironment(_ mode: Mode) throws {
        let top = "/tmp/guix-build-probe.drv-0"
        let output = try fixture.probe(mode, ["env"]).output
        #expect(output == """
            HOME=/homeless-shelter
            NIX_BUILD_CORES=0
            NIX_BUILD_TOP=\(top)
            NIX_STORE=/gnu/store
            PATH=/path-not-set
            PWD=\(top)
            TEMP=\(top)
            TEMPDIR=\(top)
            TMP=\(top)
            TMPDIR=\(top)
            out=/gnu/store/3ddddddddddddddddddddddddddddddd-probe

            """)
    }

    @Test(arguments: Mode.allCases)
    func hostAndDomainName(_ mode: Mode) throws {
        #expect(try fixture.sh(mode, "cat /proc/sys/kernel/hostname /proc/sys/kernel/domainname; hostname") == "localhost\n(none)\nlocalhost\n")
    }

    @Test(arguments: Mode.allCases)
    func procHoldsOnlyTheSandbox(_ mode: Mode) throws {
        // A shell loop (no child process): the only pid is the builder itself.
        #expect(try fixture.sh(mode, "for p in /proc/[0-9]*; do echo ${p#/proc/}; done") == "1\n")
        #expect(try fixture.sh(mode, "test -e /home; echo $?; test -e /homeless-shelter; echo $?") == "1\n1\n")
    }

    @Test(arguments: Mode.allCases)
    func devListing(_ mode: Mode) throws {
        var expected = ["fd", "full", "null", "random", "shm", "stderr", "stdin", "stdout", "tty", "urandom", "zero"]
        if HostPath.exists("/dev/kvm") { expected.append("kvm") }
        let hostHasPTMX = HostPath.exists("/dev/pts/ptmx")
        if hostHasPTMX { expected += ["ptmx", "pts"] }
        #expect(try fixture.sh(mode, "ls /dev") == expected.sorted().joined(separator: "\n") + "\n")
        #expect(try fixture.sh(mode, "echo x > /dev/null && echo ok; echo x > /dev/full") .contains("ok\n"))
        #expect(try fixture.sh(mode, "echo x > /dev/full").contains("No space left on device"))
        if hostHasPTMX {
            // A private devpts instance: only its own ptmx, none of the host's terminals.
            #expect(try fixture.sh(mode, "ls /dev/pts; test -c /dev/pts/ptmx && echo ptmx") == "ptmx\nptmx\n")
        }
    }

    @Test(arguments: Mode.allCases)
    func rootIsNotWritable(_ mode: Mode) throws {
        let output = try fixture.sh(mode, "mkdir /x; echo rc=$?; touch /y; echo rc=$?")
        #expect(output.contains("Permission denied"))
        #expect(output.split(separator: "\n").filter { $0.hasPrefix("rc=") } == ["rc=1", "rc=1"])
    }

    @Test(arguments: Mode.allCases)
    func inputsAreReadOnly(_ mode: Mode) throws {
        let input = fixture.data
        #expect(try fixture.sh(mode, "cat \(input)/greeting") == "hello\n")
        let write = try fixture.sh(mode, "echo x > \(input)/new; echo rc=$?; rm \(input)/greeting; echo rc=$?")
        #expect(write.contains("Read-only file system"))
        #expect(write.split(separator: "\n").filter { $0.hasPrefix("rc=") } == ["rc=1", "rc=1"])
        let remount = try fixture.sh(mode, "mount -o remount,rw \(input); echo rc=$?; mount -o remount,bind,rw \(input); echo rc=$?")
        #expect(remount.split(separator: "\n").filter { $0.hasPrefix("rc=") } == ["rc=1", "rc=1"])
        // Not through a nested user namespace either: copied mounts are locked there.
        let nested = try fixture.sh(mode, "unshare -r -m sh -c 'mount -o remount,bind,rw \(input) && echo remounted; echo x > \(input)/new2'; cat \(input)/new2")
        #expect(!nested.contains("remounted"))
        #expect(!HostPath.exists(fixture.realStore + "/" + input.dropFirst(11) + "/new2"))
    }

    /// Several file inputs: their mount points share one stub inode, whose name never shows.
    @Test(arguments: Mode.allCases)
    func fileInputsAreReadOnlyAndListedExactly(_ mode: Mode) throws {
        let names = ["5fffffffffffffffffffffffffffffff-a-\(mode)", "6hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh-b-\(mode)"]
        for name in names {
            let path = fixture.realStore + "/" + name
            unlink(path)
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o444)
            try #require(fd >= 0)
            #expect(write(fd, name, name.utf8.count) == name.utf8.count)
            close(fd)
            chmod(path, 0o444)
        }
        let inside = names.map { "/gnu/store/" + $0 }
        let (env, dir) = try fixture.environment(mode, arguments: ["sh", "-c", """
            ls -a /gnu/store; cat \(inside[0]) \(inside[1]); echo; \
            chmod 0644 \(inside[0]); echo rc=$?; echo x >> \(inside[1]); echo rc=$?; rm -f \(inside[0]); echo rc=$?
            """], inputs: [fixture.busybox] + inside)
        defer { try? dir.remove() }
        var output: [UInt8] = []
        _ = try Sandbox.spawn(try env.spec()).wait { output += $0 }
        let text = String(decoding: output, as: UTF8.self)
        let listing = [".", "..", String(fixture.busybox.dropFirst(11))] + names
        #expect(text.hasPrefix(listing.joined(separator: "\n") + "\n" + names.joined() + "\n"))
        #expect(text.split(separator: "\n").filter { $0.hasPrefix("rc=") } == ["rc=1", "rc=1", "rc=1"])
        for name in names {
            let host = try FileDescriptor.open(fixture.realStore + "/" + name, [.readOnly])
            #expect(try host.readAll() == Array(name.utf8))
            #expect(try host.status().permissions == 0o444)
        }
    }

    /// The host's device nodes and `--chroot-directory` extras are bound read-only: in a user
    /// namespace of a root daemon the builder's uid is root's on the host, so a writable bind
    /// of a root-owned node or file is the builder's to chmod or rewrite.
    @Test(arguments: Mode.allCases)
    func hostFilesCannotBeChanged(_ mode: Mode) throws {
        let before = try FileDescriptor.open("/dev/full", [.readOnly]).status().permissions
        defer { chmod("/dev/full", mode_t(before)) }
        let extra = "/tmp/cloister-probe-extra-\(getpid())-\(mode)"
        let fd = open(extra, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        try #require(fd >= 0)
        #expect(write(fd, "kept\n", 5) == 5)
        close(fd)
        defer { unlink(extra) }
        var (env, dir) = try fixture.environment(mode, arguments: ["sh", "-c", """
            chmod 0600 /dev/full; echo rc=$?; echo x > /dev/null; echo rc=$?; \
            echo changed > /extra; echo rc=$?; chmod 0666 /extra; echo rc=$?; \
            echo 1 > /proc/sys/vm/stat_interval; echo sysctl=$?; \
            unshare -r -p -f -m --mount-proc sh -c 'echo 1 > /proc/sys/vm/stat_interval'; echo nested=$?
            """])
        defer { try? dir.remove() }
        env.extraDirectories = [(inside: "/extra", outside: extra)]
        var output: [UInt8] = []
        _ = try Sandbox.spawn(try env.spec()).wait { output += $0 }
        let text = String(decoding: output, as: UTF8.self)
        #expect(try FileDescriptor.open("/dev/full", [.readOnly]).status().permissions == before)
        #expect(text.split(separator: "\n").filter { $0.hasPrefix("rc=") }.first == "rc=1")
        #expect(text.split(separator: "\n").filter { $0.hasPrefix("rc=") }.dropFirst().first == "rc=0")
        let host = try FileDescriptor.open(extra, [.readOnly])
        if mode == .userNamespace {
            // Pool mode keeps Guix's writable extras (the build user cannot write root's 0644 file).
            #expect(text.split(separator: "\n").filter { $0.hasPrefix("rc=") }.dropFirst(2) == ["rc=1", "rc=1"])
        }
        // Global kernel settings stay out of reach, also through a fresh procfs in a nested namespace.
        #expect(text.contains("sysctl=1\n") || text.contains("sysctl=2\n"))
        #expect(!text.contains("nested=0\n"))
        #expect(try host.readAll() == Array("kept\n".utf8))
        #expect(try host.status().permissions == 0o644)
    }

    @Test(arguments: Mode.allCases)
    func undeclaredPathsAreAbsent(_ mode: Mode) throws {
        #expect(try fixture.sh(mode, "test -e \(fixture.undeclared); echo $?; test -e \(fixture.base); echo $?") == "1\n1\n")
    }

    @Test(arguments: Mode.allCases)
    func networkIsLoopbackOnly(_ mode: Mode) throws {
        let local = try fixture.sh(mode, "nc 127.0.0.1 80 < /dev/null")
        #expect(local.contains("Connection refused"))
        let outside = try fixture.sh(mode, "nc 9.9.9.9 80 < /dev/null")
        #expect(outside.contains("Network is unreachable"))
        #expect(try fixture.sh(mode, "ls /sys/class/net 2>/dev/null; cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '") == "lo\n")
    }

    @Test(arguments: Mode.allCases)
    func workingDirectoryIsTheBuildTree(_ mode: Mode) throws {
        let output = try fixture.sh(mode, "pwd; echo data > file && cat file; stat -c %a .")
        #expect(output == "/tmp/guix-build-probe.drv-0\ndata\n700\n")
    }

    @Test(arguments: Mode.allCases)
    func buildTreeStaysPrivateOnTheHost(_ mode: Mode) throws {
        // SEC-03/SEC-05: the builder may open up its tree, but the daemon-owned 0700 wrapper
        // keeps every other user (and any other process of the build uid) out.
        let (env, dir) = try fixture.environment(mode, arguments: ["sh", "-c", "chmod 0777 . && echo x > f && chmod 0666 f && chmod 0777 .. ; true"])
        defer { try? dir.remove() }
        let outcome = try Sandbox.spawn(try env.spec()).wait()
        #expect(outcome.status == .exited(code: 0))
        #expect(dir.hostPath.hasPrefix(fixture.temporaryDirectory + "/guix-build-probe.drv-"))
        #expect(try HostPath.status(dir.topPath)?.permissions == 0o777)
        let wrapper = try #require(try HostPath.status(dir.hostPath))
        #expect(wrapper.permissions == 0o700 && wrapper.owner == 0)
        let (status, output) = try capture(["/usr/sbin/runuser", "-u", "nobody", "--", "/bin/busybox", "cat", dir.topPath + "/f"])
        #expect(status != 0 && output.contains("Permission denied"))
    }

    @Test(arguments: Mode.allCases)
    func onlyStandardDescriptors(_ mode: Mode) throws {
        // `; true` keeps the shell from exec'ing ls as pid 1 itself.
        let fds = try fixture.sh(mode, "ls /proc/1/fd; true")
        #expect(fds == "0\n1\n2\n")
        let stdin = try fixture.sh(mode, "readlink /proc/1/fd/0; true")
        #expect(stdin == "/dev/null\n")
    }

    @Test(arguments: Mode.allCases)
    func backgroundProcessesDieWithTheBuilder(_ mode: Mode) throws {
        let marker = "98765\(mode == .pool ? 1 : 2)"
        let result = try fixture.probe(mode, ["sh", "-c", "sleep \(marker) & (sleep \(marker) &) ; setsid sleep \(marker) & echo started"])
        #expect(result.status == .exited(code: 0))
        #expect(result.output == "started\n")
        #expect(hostProcesses(containing: "sleep \(marker)").isEmpty)
    }

    @Test(arguments: Mode.allCases)
    func timeoutKillsTheWholeNamespace(_ mode: Mode) throws {
        let marker = "98764\(mode == .pool ? 1 : 2)"
        let result = try fixture.probe(mode, ["sh", "-c", "sleep \(marker) & echo started; sleep \(marker)"],
                                       limits: .init(timeout: .milliseconds(300)))
        #expect(result.killed == .timeout)
        #expect(result.status == .signaled(signal: SIGKILL, coreDumped: false))
        #expect(result.output == "started\n")
        #expect(hostProcesses(containing: "sleep \(marker)").isEmpty)
    }

    @Test(arguments: Mode.allCases)
    func silenceKillsAndExitCodesComeBack(_ mode: Mode) throws {
        let silent = try fixture.probe(mode, ["sh", "-c", "echo a; sleep 5"], limits: .init(maxSilentTime: .milliseconds(200)))
        #expect(silent.killed == .silence)
        let failing = try fixture.probe(mode, ["sh", "-c", "exit 3"])
        #expect(failing.status == .exited(code: 3) && failing.killed == nil)
        let chatty = try fixture.probe(mode, ["sh", "-c", "yes"], limits: .init(maxLogBytes: 100_000))
        #expect(chatty.killed == .logLimit)
    }

    @Test(arguments: Mode.allCases)
    func failingSetupStepIsNamed(_ mode: Mode) throws {
        let (env, dir) = try fixture.environment(mode, arguments: ["true"], extra: [])
        defer { try? dir.remove() }
        var broken = env
        broken.extraDirectories = [(inside: "/opt/missing", outside: fixture.base + "/does-not-exist")]
        let spec = try broken.spec()
        let readOnly = mode == .userNamespace ? " read-only" : ""
        // The plan has one step less when a network namespace was made ahead (PreparedNamespaces).
        let indices = try [false, true].map { try #require(try stepIndex(of: "/opt/missing", in: spec, networkReady: $0)) }
        do {
            _ = try Sandbox.spawn(spec)
            Issue.record("the spawn succeeded")
        } catch {
            guard case .setupFailed(let phase, let action, let step, let errno) = error else { throw error }
            #expect(phase == "mountIntoChroot" && action == "bind-mounting `\(fixture.base)/does-not-exist' to `/opt/missing'\(readOnly)")
            #expect(errno == .noSuchFile && indices.contains(step))
        }
    }

    func stepIndex(of inside: String, in spec: SandboxSpec, networkReady: Bool) throws -> Int? {
        try SetupPlan.steps(for: spec, networkReady: networkReady, lookup: Sandbox.hostBindSource)
            .firstIndex { $0.op.rawValue == 8 && $0.action.contains(inside) }
    }
}

/// Fixed-output builds and `--disable-chroot` (guix-daemon.md §1.9, §3.1). In the same
/// serialized suite: every pool-mode build here runs as cloister-probe1, and killUser after one
/// build would end a concurrent one.
extension ProbeTests {
    func run(_ env: ChrootEnvironment) throws -> (LinuxSystem.ExitStatus, String) {
        var output: [UInt8] = []
        let outcome = try Sandbox.spawn(try env.spec()).wait { output += $0 }
        return (outcome.status, String(decoding: output, as: UTF8.self))
    }

    @Test(arguments: Mode.allCases)
    func fixedOutputKeepsTheHostNetworkAndResolverFiles(_ mode: Mode) throws {
        var (env, dir) = try fixture.environment(mode, arguments: ["sh", "-c", "ls /etc; cat /proc/net/dev | tail -n +3 | wc -l"])
        defer { try? dir.remove() }
        env.fixedOutput = true
        let (status, output) = try run(env)
        #expect(status == .exited(code: 0))
        var etc = ["group", "passwd"]
        for name in ["hosts", "resolv.conf", "services", "nsswitch.conf"] where HostPath.exists("/etc/" + name) { etc.append(name) }
        let lines = output.split(separator: "\n").map(String.init)
        #expect(Array(lines.dropLast()) == etc.sorted())
        // The host's interfaces, not just lo.
        let hostInterfaces = try FileDescriptor.open("/proc/net/dev", [.readOnly]).readAll().split(separator: 0x0A).count - 2
        #expect(lines.last == String(hostInterfaces))
    }

    @Test(arguments: Mode.allCases)
    func mountsAreNosuidAndHostSocketsInvisible(_ mode: Mode) throws {
        // P-1.4 defence in depth: nothing the builder writes can become a setuid program.
        let mounts = try fixture.sh(mode, "awk '$5 == \"/\" || $5 == \"/tmp/guix-build-probe.drv-0\" { print $5, ($6 ~ /nosuid/ && $6 ~ /nodev/) }' /proc/self/mountinfo")
        #expect(mounts == "/ 1\n/tmp/guix-build-probe.drv-0 1\n")
        // P-3.1: the network namespace shows no host unix sockets (only the header line).
        #expect(try fixture.sh(mode, "wc -l < /proc/net/unix") == "1\n")
    }

    @Test(arguments: Mode.allCases)
    func impersonatingLinux26(_ mode: Mode) throws {
        var (env, dir) = try fixture.environment(mode, arguments: ["uname", "-r"])
        defer { try? dir.remove() }
        env.personality = ChrootEnvironment.personality(system: "x86_64-linux", hostSystem: "x86_64-linux", impersonateLinux26: true)
        let (status, output) = try run(env)
        #expect(status == .exited(code: 0))
        #expect(output.hasPrefix("2.6."))
    }

    @Test func builderSymlinkOutOfTheStoreIsRefused() throws {
        // SEC-02: a store symlink to /proc/self/exe would exec the daemon itself.
        let link = "/gnu/store/4eeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-evil"
        let host = fixture.realStore + "/" + link.dropFirst(11)
        mkdir(host, 0o755)
        symlink("/proc/self/exe", host + "/builder")
        var (env, dir) = try fixture.environment(.userNamespace, arguments: [])
        defer { try? dir.remove() }
        env.inputPaths.append(link)
        env.builder = link + "/builder"
        #expect(throws: SandboxError.invalidSpec(reason: "derivation builder `\(link)/builder' is outside the store")) {
            try env.spec()
        }
    }

    @Test(arguments: Mode.allCases)
    func withoutChroot(_ mode: Mode) throws {
        let marker = "98763\(mode == .pool ? 1 : 2)"
        var (env, dir) = try fixture.environment(mode, arguments: [
            "sh", "-c", "test $$ != 1 && echo not-pid-1; pwd; echo $NIX_BUILD_TOP; id -u; test -d \(fixture.base) && echo host-fs; sleep \(marker) & true"])
        defer { try? dir.remove() }
        env.useChroot = false
        let (status, output) = try run(env)
        #expect(status == .exited(code: 0))
        let uid = mode == .pool ? fixture.buildUser.uid : 0
        #expect(output == "not-pid-1\n\(dir.topPath)\n\(dir.topPath)\n\(uid)\nhost-fs\n")
        #expect(hostProcesses(containing: "sleep \(marker)").isEmpty)
    }
}
