import Glibc
import LinuxSystem
import Testing
@testable import Sandbox

/// Root mode's build-user pool (guix-daemon.md §2) with the fixture's `cloister-pool` group.
@Suite(.serialized, .tags(.large), .enabled(if: geteuid() == 0))
struct BuildUserPoolTests {
    let fixture: ProbeFixture
    let pool: BuildUserPool

    init() throws {
        fixture = try ProbeFixture.shared.get()
        pool = BuildUserPool(groupName: ProbeFixture.poolGroup, lockDirectory: fixture.base + "/var/guix/userpool")
    }

    @Test func membersInOrderUntilExhausted() throws {
        let group = try #require(try GroupAccount.named(ProbeFixture.poolGroup))
        let members = group.members
        var held: [BuildUser] = []
        for member in members {
            let user = try pool.acquire()
            #expect(user.name == member)
            #expect(user.gid == group.gid)
            #expect(user.supplementaryGroups.contains(group.gid))
            #expect(HostPath.exists(pool.lockDirectory + "/\(user.uid)"))
            held.append(user)
        }
        #expect(throws: SandboxError.buildUserPool(reason: "all build users are currently in use; consider creating additional users and adding them to the `cloister-pool' group")) {
            try pool.acquire()
        }
        let first = held.removeFirst()
        let name = first.name
        first.release()
        #expect(try pool.acquire().name == name)
    }

    @Test func unknownOrEmptyGroups() throws {
        #expect(throws: SandboxError.buildUserPool(reason: "the group `no-such-group-x' specified in `build-users-group' does not exist")) {
            try BuildUserPool(groupName: "no-such-group-x", lockDirectory: fixture.base + "/locks").acquire()
        }
        #expect(throws: SandboxError.buildUserPool(reason: "the build users group `nogroup' has no members")) {
            try BuildUserPool(groupName: "nogroup", lockDirectory: fixture.base + "/locks").acquire()
        }
    }

    @Test func twoConcurrentBuildsRunAsDifferentUsers() throws {
        let first = try pool.acquire()
        let second = try pool.acquire()
        var processes: [SandboxProcess] = []
        var directories: [BuildDirectory] = []
        defer { for dir in directories { try? dir.remove() } }
        for user in [first, second] {
            let dir = try BuildDirectory.create(temporaryDirectory: fixture.temporaryDirectory, derivationName: "pool.drv",
                                                owner: Ownership(uid: user.uid, gid: user.gid))
            directories.append(dir)
            let env = ChrootEnvironment(
                derivationName: "pool.drv", realStoreDirectory: fixture.realStore, inputPaths: [fixture.busybox],
                chrootDirectory: try fixture.newChroot(.userNamespace), buildDirectory: dir, identity: user.identity, builder: fixture.shell,
                arguments: ["sh", "-c", "id -u; sleep 0.2; touch ok"].map { Array($0.utf8) })
            processes.append(try Sandbox.spawn(try env.spec()))
        }
        var outputs: [String] = []
        for process in processes {
            var bytes: [UInt8] = []
            let outcome = try process.wait { bytes += $0 }
            #expect(outcome.status == .exited(code: 0))
            outputs.append(String(decoding: bytes, as: UTF8.self))
        }
        #expect(outputs == ["\(first.uid)\n", "\(second.uid)\n"])
        for (dir, user) in zip(directories, [first, second]) {
            #expect(try HostPath.status(dir.topPath + "/ok")?.owner == user.uid)
        }
    }

    @Test func killProcessesEndsEverythingOfTheUser() throws {
        let user = try pool.acquire()
        // A process of the build user outside any sandbox, as a stray from an earlier build.
        let marker = "987650"
        let pid = try spawnAs(uid: user.uid, gid: user.gid, ["/bin/busybox", "sleep", marker])
        #expect(!hostProcesses(containing: "sleep \(marker)").isEmpty)
        try user.killProcesses()
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        #expect(status & 0x7f == SIGKILL)
        #expect(hostProcesses(containing: "sleep \(marker)").isEmpty)
    }

    @Test func spawningAsABuildUserEndsItsStrays() throws {
        let user = try pool.acquire()
        let marker = "987649"
        let pid = try spawnAs(uid: user.uid, gid: user.gid, ["/bin/busybox", "sleep", marker])
        let dir = try BuildDirectory.create(temporaryDirectory: fixture.temporaryDirectory, derivationName: "stray.drv",
                                            owner: Ownership(uid: user.uid, gid: user.gid))
        defer { try? dir.remove() }
        let env = ChrootEnvironment(
            derivationName: "stray.drv", realStoreDirectory: fixture.realStore, inputPaths: [fixture.busybox],
            chrootDirectory: try fixture.newChroot(.userNamespace), buildDirectory: dir, identity: user.identity, builder: fixture.shell,
            arguments: ["true"].map { Array($0.utf8) })
        let process = try Sandbox.spawn(try env.spec())
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        #expect(status & 0x7f == SIGKILL)
        #expect(try process.wait().status == .exited(code: 0))
    }

    /// posix_spawn through setpriv, so the process really runs as `uid`.
    func spawnAs(uid: UInt32, gid: UInt32, _ argv: [String]) throws -> pid_t {
        let full = ["/usr/bin/setpriv", "--reuid=\(uid)", "--regid=\(gid)", "--clear-groups"] + argv
        var pid: pid_t = 0
        var cArgs = full.map { strdup($0) }
        cArgs.append(nil)
        defer { for arg in cArgs { free(arg) } }
        let rc = posix_spawn(&pid, full[0], nil, nil, cArgs, environ)
        try #require(rc == 0)
        usleep(100_000)
        return pid
    }
}
