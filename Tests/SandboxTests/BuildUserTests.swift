import Glibc
import LinuxSystem
import Testing
@testable import Sandbox

/// Root mode with build users (guix-daemon.md §2), with the fixture's `cloister-pool1/2` users
/// (the pool and its locks are the Builder's): concurrent builds as different users, and no
/// process of a build user surviving before or after a build.
@Suite(.serialized, .tags(.large), .enabled(if: geteuid() == 0))
struct BuildUserTests {
    let fixture: ProbeFixture
    let users: [UserAccount]
    let group: GroupAccount

    init() throws {
        fixture = try ProbeFixture.shared.get()
        users = try ProbeFixture.poolMembers.map { try #require(try UserAccount.named($0)) }
        group = try #require(try GroupAccount.named(ProbeFixture.poolGroup))
    }

    func identity(_ user: UserAccount) throws -> SandboxIdentity {
        .buildUser(uid: user.uid, gid: group.gid, supplementaryGroups: try user.groupList())
    }

    func environment(_ user: UserAccount, _ name: String, _ arguments: [String]) throws -> (ChrootEnvironment, BuildDirectory) {
        let dir = try BuildDirectory.create(temporaryDirectory: fixture.temporaryDirectory, derivationName: name,
                                            owner: Ownership(uid: user.uid, gid: group.gid))
        let env = ChrootEnvironment(
            derivationName: name, realStoreDirectory: fixture.realStore, inputPaths: [fixture.busybox],
            chrootDirectory: try fixture.newChroot(.userNamespace), buildDirectory: dir, identity: try identity(user),
            builder: fixture.shell, arguments: arguments.map { Array($0.utf8) })
        return (env, dir)
    }

    @Test func twoConcurrentBuildsRunAsDifferentUsers() throws {
        var processes: [SandboxProcess] = []
        var directories: [BuildDirectory] = []
        defer { for dir in directories { try? dir.remove() } }
        for user in users {
            let (env, dir) = try environment(user, "pool.drv", ["sh", "-c", "id -u; sleep 0.2; touch ok"])
            directories.append(dir)
            processes.append(try Sandbox.spawn(try env.spec()))
        }
        var outputs: [String] = []
        for process in processes {
            var bytes: [UInt8] = []
            let outcome = try process.wait { bytes += $0 }
            #expect(outcome.status == .exited(code: 0))
            outputs.append(String(decoding: bytes, as: UTF8.self))
        }
        #expect(outputs == users.map { "\($0.uid)\n" })
        for (dir, user) in zip(directories, users) {
            #expect(try HostPath.status(dir.topPath + "/ok")?.owner == user.uid)
        }
    }

    @Test func killUserEndsEverythingOfTheUser() throws {
        let user = users[0]
        // A process of the build user outside any sandbox, as a stray from an earlier build.
        let marker = "987650"
        let pid = try spawnAs(uid: user.uid, gid: group.gid, ["/bin/busybox", "sleep", marker])
        #expect(!hostProcesses(containing: "sleep \(marker)").isEmpty)
        try killUser(user.uid)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        #expect(status & 0x7f == SIGKILL)
        #expect(hostProcesses(containing: "sleep \(marker)").isEmpty)
        #expect(throws: SystemError.self) { try killUser(0) }
    }

    @Test func spawningAsABuildUserEndsItsStrays() throws {
        let user = users[1]
        let pid = try spawnAs(uid: user.uid, gid: group.gid, ["/bin/busybox", "sleep", "987649"])
        let (env, dir) = try environment(user, "stray.drv", ["true"])
        defer { try? dir.remove() }
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
