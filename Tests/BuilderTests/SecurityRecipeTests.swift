import Testing
import Glibc
import StoreFormats
import LocalStore
import LinuxSystem
@testable import Builder

/// security.md regression recipes run as real builds, in both modes of a root daemon (pool:
/// guixbuild members; user namespace: no build group). In `BuildTests` (an extension) because
/// pool builds there share the guixbuild users, whom each build's killUser hits.
///
/// SEC-05 (CVE-2024-38531): the builder opens up its build tree (`chmod 700 .`, a 0777 fifo, a
/// readable file, set-id files made through chmod, fchmod, fchmodat and raw fchmodat2 when a C
/// compiler is at hand), then blocks. Meanwhile, outside: another user (`nobody`) cannot list,
/// create, read or run anything in it, nor can a process of the build uid outside the sandbox;
/// the daemon-owned 0700 wrapper is intact whatever the builder did to `..` (pool mode: changing
/// it fails; user-namespace mode: `..` is the sandbox's private tmpfs `/tmp`, the builder's own
/// inside, never a host directory). Set-id files, if the
/// kernel let them be made, sit on a nosuid mount. The output is what an undisturbed build gives.
///
/// SEC-15 (CVE-2025-53819): the builder writes its ids, groups, capabilities and no_new_privs;
/// it never runs as root or as the daemon's uid inside, with the build group only, no
/// capabilities, no_new_privs set.
extension BuildTests {
    /// A static C program trying to make set-id files four ways, added to the store; nil
    /// without a C compiler (then only busybox's chmod is tried).
    static func setidProbe(_ f: BuildFixture) throws -> StorePath? {
        let compiler = ["/usr/bin/cc", "/opt/swift/usr/bin/clang"].first { (path: String) in access(path, X_OK) == 0 }
        guard let compiler else { return nil }
        let source = f.root + "/setid.c"
        let program = """
            #define _GNU_SOURCE
            #include <errno.h>
            #include <fcntl.h>
            #include <stdio.h>
            #include <sys/stat.h>
            #include <sys/syscall.h>
            #include <unistd.h>
            int main(void) {
                const char *names[] = {"chmod", "fchmod", "fchmodat", "fchmodat2"};
                for (int i = 0; i < 4; i++) {
                    char path[32];
                    snprintf(path, sizeof path, "setid-%s", names[i]);
                    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0755);
                    long rc;
                    switch (i) {
                    case 0: rc = chmod(path, 06755); break;
                    case 1: rc = fchmod(fd, 06755); break;
                    case 2: rc = fchmodat(AT_FDCWD, path, 06755, 0); break;
                    default: rc = syscall(452, AT_FDCWD, path, 06755, 0); break;
                    }
                    int error = rc ? errno : 0;
                    struct stat st;
                    stat(path, &st);
                    printf("%s %ld %d %o\\n", names[i], rc, error, (unsigned) (st.st_mode & 07777));
                    close(fd);
                }
                return 0;
            }
            """
        guard shell("cat > '\(source)' <<'EOF'\n\(program)\nEOF\nmkdir -p '\(f.root)/setid/bin' && '\(compiler)' -static -O1 -o '\(f.root)/setid/bin/setid' '\(source)' 2>&1") != nil else {
            return nil
        }
        let (nar, _) = try NARDumper.dump(path: f.root + "/setid", to: [UInt8]())
        return try f.store.addToStore(nar: ByteArraySource(nar), name: "setid", method: .recursive)
    }

    @Test(arguments: Mode.allCases)
    func sec05BuildTreeStaysClosedWhileTheBuilderOpensItUp(_ mode: Mode) throws {
        let f = try BuildFixture()
        let s = try settings(f, mode)
        let probe = try Self.setidProbe(f)
        var env: [String: String] = [:]
        if let probe { env["setid"] = f.absolute(probe) + "/bin/setid" }
        let drv = try f.derivation("sec05-\(mode)", script: """
            chmod 700 .; chmod 700 .. 2>/dev/null && echo parent=changed || echo parent=refused; chmod 0777 .
            echo secret > secret; chmod 0644 secret; busybox mkfifo fifo; chmod 0777 fifo
            cp $PATH/busybox suid; chmod 6755 suid; echo busybox-chmod $(stat -c %a suid)
            [ -n "$setid" ] && $setid
            busybox awk '$5 == "'$PWD'" { print "nosuid", ($6 ~ /nosuid/) }' /proc/self/mountinfo
            echo ready; cat fifo > /dev/null
            mkdir $out; echo undisturbed > $out/result
            """, env: env, sources: probe.map { [$0] } ?? [])
        let log = EventLog()
        let box = ResultBox()
        let builder = Builder(store: f.store, settings: s)
        let thread = try SystemThread.start { box.add(builder.build([.derivation(drv)]) { log.append($0) }[0]) }
        var waited = 0
        while !log.output.contains("ready") && waited < 500 { usleep(10_000); waited += 1 }
        #expect(log.output.contains("ready"), "\(log.output)")

        let wrapper = try #require(shell("ls -d '\(f.root)'/tmp/guix-build-sec05-\(mode).drv-*")?.split(separator: "\n").first.map(String.init))
        let top = wrapper + "/top"
        // The wrapper is the daemon's, 0700, whatever the builder did to its `..`.
        #expect(shell("stat -c '%a %u' '\(wrapper)'") == "700 0\n")
        if mode == .pool { #expect(log.output.contains("parent=refused")) }
        // Another user: nothing at all.
        for command in ["busybox ls '\(top)'", "busybox touch '\(top)/x'", "busybox cat '\(top)/secret'",
                        "'\(top)/suid' id -u", "busybox sh -c 'echo x > \(top)/fifo'"] {
            let (denied, output) = asUser("65534", command)
            #expect(denied && output.contains("Permission denied"), "nobody: \(command): \(output)")
        }
        // A process of the build uid outside the sandbox: neither.
        if mode == .pool, let owner = shell("stat -c %u '\(top)'")?.filter({ !$0.isWhitespace }) {
            #expect(owner != "0")
            let (denied, output) = asUser(owner, "busybox ls '\(top)'")
            #expect(denied && output.contains("Permission denied"), "build uid \(owner): \(output)")
        }
        // Set-id files: refused, or on a nosuid mount (and unreachable, above).
        #expect(log.output.contains("nosuid 1\n"), "\(log.output)")
        if probe != nil {
            let lines = log.output.split(separator: "\n").filter { $0.hasPrefix("chmod ") || $0.hasPrefix("fchmod") }
            #expect(lines.count == 4, "\(log.output)")
            for line in lines {
                let fields = line.split(separator: " ")
                let refused = fields.count == 4 && fields[1] == "-1" && (fields[2] == "\(EPERM)" || fields[2] == "\(ENOSYS)")
                #expect(refused || log.output.contains("nosuid 1\n"), "\(line)")
            }
        }
        #expect(shell("echo go > '\(top)/fifo'") != nil)
        thread.join()

        #expect(box.statuses == [.built], "\(box.results.first?.errorMessage ?? "")")
        let out = f.absolute(try #require(f.output(drv)))
        #expect(shell("cat '\(out)/result'") == "undisturbed\n")
        #expect(shell("find '\(out)' -printf '%P %m %U\\n' | sort") == " 555 0\nresult 444 0\n")
    }

    @Test(arguments: Mode.allCases)
    func sec15BuilderNeverRunsPrivileged(_ mode: Mode) throws {
        let f = try BuildFixture()
        let s = try settings(f, mode)
        let drv = try f.derivation("sec15-\(mode)", script: """
            mkdir $out; id -u > $out/uid; id -g > $out/gid; id -G > $out/groups
            busybox grep -E '^(CapInh|CapPrm|CapEff|CapAmb|NoNewPrivs):' /proc/self/status > $out/status
            """)
        let results = Builder(store: f.store, settings: s).build([.derivation(drv)])
        #expect(results[0].status == .built, "\(results[0].errorMessage)")
        let out = f.absolute(try #require(f.output(drv)))
        let uid = shell("cat '\(out)/uid'")?.filter { !$0.isWhitespace } ?? ""
        let gid = shell("cat '\(out)/gid'")?.filter { !$0.isWhitespace } ?? ""
        let groups = shell("cat '\(out)/groups'")?.split(whereSeparator: \.isWhitespace).map(String.init) ?? []
        #expect(!uid.isEmpty && uid != "0" && uid != "\(getuid())")
        switch mode {
        case .pool:
            let group = try #require(try GroupAccount.named("guixbuild"))
            let members = try group.members.compactMap { try UserAccount.named($0)?.uid }
            #expect(members.contains { "\($0)" == uid }, "\(uid) \(members)")
            #expect(gid == "\(group.gid)")
            #expect(groups == ["\(group.gid)"])
        case .userNamespace:
            #expect(uid == "30001" && gid == "30000")
            #expect(groups.first == "30000" && groups.allSatisfy { $0 == "30000" || $0 == "65534" }, "\(groups)")
        }
        #expect(shell("cat '\(out)/status'") == """
            CapInh:\t0000000000000000
            CapPrm:\t0000000000000000
            CapEff:\t0000000000000000
            CapAmb:\t0000000000000000
            NoNewPrivs:\t1

            """)
    }

    /// Runs `command` with /bin/sh as uid `uid` (group 65534, no other groups) outside any
    /// sandbox; true if it failed, with its combined output.
    func asUser(_ uid: String, _ command: String) -> (failed: Bool, output: String) {
        let quoted = "'" + command.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
        let output = shell("setpriv --reuid=\(uid) --regid=65534 --clear-groups -- /bin/sh -c \(quoted) 2>&1; echo \"rc=$?\"") ?? "rc=?"
        return (!output.hasSuffix("rc=0\n"), output)
    }
}
