import Testing
import Foundation
import Glibc
import LinuxSystem
import StoreFormats

/// The daemon running as an ordinary user (guix-daemon.md §3; issue 5 "unprivileged mode is
/// tested with the daemon running as a non-root user the test creates"): `cloister setup
/// --unprivileged --user cloister-unpriv1` makes the account and gives it the store, state, log
/// and configuration directories; `cloister-daemon` runs as that user with its own groups and no
/// build group; the root CLI builds a busybox derivation through the socket whose builder writes
/// down what it sees. The account and every process of it are removed at the end (this suite
/// owns `cloister-unpriv*` alone: killing the uid's processes hits nobody else's).
@Suite(.serialized, .tags(.large),
       .enabled(if: geteuid() == 0 && CLIDaemon.binariesExist && access("/bin/busybox", X_OK) == 0
                && access("/usr/bin/setpriv", X_OK) == 0))
struct UnprivilegedDaemonTests {
    static let user = "cloister-unpriv1"

    /// The kernel prints map fields as `%10u`.
    static func mapLine(_ inside: String, _ outside: String) -> String {
        func pad(_ s: String) -> String { String(repeating: " ", count: max(0, 10 - s.count)) + s }
        return "\(pad(inside)) \(pad(outside)) \(pad("1"))\n"
    }

    /// Every process of the user killed, then the account and its group deleted.
    static func removeUser() {
        if let account = try? UserAccount.named(user) {
            try? killUser(account.uid)
        }
        _ = try? Program.run("/usr/sbin/userdel", [user])
        _ = try? Program.run("/usr/sbin/groupdel", [user])
    }

    @Test func buildThroughADaemonRunningAsAnOrdinaryUser() throws {
        Self.removeUser()
        defer { Self.removeUser() }
        try build()
        // Stopped with SIGTERM, the daemon leaves no process of its user behind.
        let uid = try #require(try UserAccount.named(Self.user)).uid
        #expect(hostProcessesOf(uid: uid).isEmpty)
    }

    /// Separate so the daemon is stopped and its directory gone before the account is removed.
    private func build() throws {
        let daemon = try CLIDaemon(user: Self.user)
        defer { daemon.stop() }
        let account = try #require(try UserAccount.named(Self.user))
        #expect(account.uid != 0)
        #expect(daemon.setupOutput.contains("the daemon runs as \(Self.user), builds in user namespaces"), "\(daemon.setupOutput)")
        // The daemon is that user, and knows it is unprivileged.
        let status = try String(contentsOfFile: "/proc/\(daemon.process.processIdentifier)/status", encoding: .utf8)
        let uidLine = status.split(separator: "\n").first { $0.hasPrefix("Uid:") }.map(String.init) ?? ""
        #expect(uidLine.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().allSatisfy { $0 == "\(account.uid)" }, "\(uidLine)")
        #expect(status.contains("CapEff:\t0000000000000000") && status.contains("CapPrm:\t0000000000000000"), "\(status)")
        let log = (try? String(contentsOfFile: daemon.root + "/daemon.log", encoding: .utf8)) ?? ""
        #expect(log.contains("unprivileged mode (uid \(account.uid)): each build gets its own user namespace, as uid 30001"), "\(log)")

        let busybox = try daemon.addBusybox()
        let bb = busybox.absolute(in: try StoreDirectory(daemon.store))
        let probe = try daemon.derivation("unpriv-probe", busybox: busybox, script: """
            mkdir $out; id -u > $out/uid; id -g > $out/gid; id -G > $out/groups
            cat /proc/self/uid_map > $out/uid_map; cat /proc/self/gid_map > $out/gid_map
            cat /proc/self/setgroups > $out/setgroups
            busybox grep -E '^(CapEff|CapPrm|CapAmb|NoNewPrivs):' /proc/self/status > $out/status
            echo x 2> $out/write > \(bb)/new; echo "rc=$?" >> $out/write
            busybox mount -o remount,bind,rw \(bb) 2> $out/remount; echo "rc=$?" >> $out/remount
            busybox umount /proc 2> $out/umount; echo "rc=$?" >> $out/umount
            echo probed
            """)
        let built = daemon.cloister(["build", probe.file])
        #expect(built.status == 0, "\(built.err)\n\(log)")
        #expect(built.out == probe.output + "\n")
        #expect(built.err.contains("probed"))

        func read(_ name: String) -> String { (try? String(contentsOfFile: probe.output + "/" + name, encoding: .utf8)) ?? "?" }
        // A user namespace: 30001/30000 inside, the daemon's ids outside, one id each (§1.6).
        #expect(read("uid") == "30001\n")
        #expect(read("gid") == "30000\n")
        #expect(read("uid_map") == Self.mapLine("30001", "\(account.uid)"))
        #expect(read("gid_map") == Self.mapLine("30000", "\(account.gid)"))
        // No escalation: supplementary groups cannot be changed, no capabilities after exec.
        #expect(read("setgroups") == "deny\n")
        let groups = read("groups").split(whereSeparator: \.isWhitespace)
        // The daemon's own groups only, the unmapped ones shown as the overflow gid.
        #expect(groups.first == "30000" && groups.allSatisfy { $0 == "30000" || $0 == "65534" }, "\(groups)")
        #expect(read("status").contains("CapEff:\t0000000000000000"))
        #expect(read("status").contains("CapPrm:\t0000000000000000"))
        #expect(read("status").contains("NoNewPrivs:\t1"))
        // Inputs read-only and locked: no remount, no unmount.
        #expect(read("write").contains("Read-only file system") && read("write").hasSuffix("rc=1\n"), "\(read("write"))")
        #expect(!read("remount").hasSuffix("rc=0\n"), "\(read("remount"))")
        #expect(!read("umount").hasSuffix("rc=0\n"), "\(read("umount"))")
        #expect(!FileManager.default.fileExists(atPath: bb + "/new"))

        // Registered, and owned by the daemon's user (no chown to root happened, none could).
        #expect(daemon.cloister(["query", "--valid", probe.output]).out == probe.output + "\n")
        #expect(daemon.cloister(["query", "--deriver", probe.output]).out == probe.drvPath + "\n")
        #expect(daemon.cloister(["log", probe.drvPath]).out == "probed\n")
        let stat = daemon.shell("stat -c '%u:%g %a %Y' '\(probe.output)' '\(probe.output)/uid'")
        #expect(stat.out == "\(account.uid):\(account.gid) 555 1\n\(account.uid):\(account.gid) 444 1\n")
        // --rounds through the socket (SetOptions `build-repeat`): a builder that differs each time.
        let noise = try daemon.derivation("noise", busybox: busybox, script: "cat /proc/sys/kernel/random/uuid > $out")
        let twice = daemon.cloister(["build", "--rounds=2", noise.file])
        #expect(twice.status == 1)
        #expect(twice.err.contains("output ‘\(noise.output)’ of ‘\(noise.drvPath)’ differs from previous round"), "\(twice.err)")
        #expect(daemon.cloister(["query", "--valid", noise.output]).status == 1)
        let stable = try daemon.derivation("stable", busybox: busybox, script: "echo round; echo same > $out")
        let stableBuilt = daemon.cloister(["build", "--rounds=3", stable.file])
        #expect(stableBuilt.status == 0 && stableBuilt.out == stable.output + "\n")
        #expect(daemon.cloister(["log", stable.drvPath]).out == "round\n")

        // SEC-05 for this daemon: the builder opens up its tree and leaves a set-id copy of
        // busybox there, owned on the host by the daemon's user (who owns the store), then
        // waits. Nobody else can list, read or run anything in it: the wrapper is the daemon's, 0700.
        let sec05 = try daemon.derivation("sec05", busybox: busybox, script: """
            chmod 0777 .; cp \(bb)/bin/busybox suid; chmod 6755 suid; echo secret > secret
            busybox mkfifo fifo; chmod 0666 fifo; echo ready; cat fifo > /dev/null; echo ok > $out
            """)
        let client = Process()
        client.executableURL = URL(fileURLWithPath: CLIDaemon.cloisterBinary)
        client.arguments = ["build", "-q", sec05.file]
        client.environment = daemon.environment
        client.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        client.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try client.run()
        var fifo = ""
        for _ in 0..<500 where fifo.isEmpty {
            usleep(10_000)
            fifo = daemon.shell("ls -d '\(daemon.root)'/tmp/guix-build-sec05.drv-*/top/fifo 2>/dev/null").out
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(!fifo.isEmpty)
        if !fifo.isEmpty {
            let top = String(fifo.dropLast("/fifo".count))
            let wrapper = String(top.dropLast("/top".count))
            #expect(daemon.shell("stat -c '%a %u' '\(wrapper)' '\(top)'").out == "700 \(account.uid)\n777 \(account.uid)\n")
            for command in ["busybox ls \(top)", "busybox cat \(top)/secret", "\(top)/suid id -u"] {
                // Through sh: setpriv itself still holds root's capabilities when it execs.
                let run = daemon.shell("setpriv --reuid=65534 --regid=65534 --clear-groups -- /bin/sh -c '\(command)'")
                #expect(run.status != 0 && run.err.contains("Permission denied"), "nobody: \(command): \(run.out)\(run.err)")
            }
            #expect(daemon.shell("echo go > '\(fifo)'").status == 0)
        }
        client.waitUntilExit()
        #expect(client.terminationStatus == 0)
        #expect((try? String(contentsOfFile: sec05.output, encoding: .utf8)) == "ok\n")

        // Nothing of the build is left: no chroot, no build tree.
        usleep(200_000)
        #expect(daemon.shell("ls '\(daemon.root)/tmp'").out == "")
        #expect(daemon.shell("ls -a '\(daemon.store)' | grep -c chroot").out == "0\n")
    }
}

/// Host pids whose real uid is `uid`.
func hostProcessesOf(uid: UInt32) -> [Int32] {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
    return names.compactMap { Int32($0) }.filter { pid in
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return false }
        return status.split(separator: "\n").contains { $0.hasPrefix("Uid:\t\(uid)\t") }
    }
}
