import Glibc
import LinuxSystem
import Testing
@testable import Sandbox

/// The host build tree (security.md SEC-03, SEC-12): exclusive creation, daemon-owned 0700
/// wrapper, `top` handed to the build user by fd.
@Suite(.serialized, .tags(.medium))
struct BuildDirectoryTests {
    func scratch() throws -> String {
        var template = Array("/tmp/cloister-builddir-XXXXXX".utf8CString)
        let made = try #require(mkdtemp(&template))
        return String(cString: made)
    }

    @Test func wrapperAndTopAreExclusiveAndPrivate() throws {
        let tmp = try scratch()
        defer { _ = try? run(["/bin/rm", "-rf", tmp]) }
        let dir = try BuildDirectory.create(temporaryDirectory: tmp, derivationName: "hello-2.12.drv", owner: nil)
        #expect(dir.name == "guix-build-hello-2.12.drv-0")
        #expect(dir.insidePath == "/tmp/guix-build-hello-2.12.drv-0")
        let wrapper = try #require(try HostPath.status(dir.hostPath))
        let top = try #require(try HostPath.status(dir.topPath))
        #expect(wrapper.type == .directory && wrapper.permissions == 0o700 && wrapper.owner == geteuid())
        #expect(top.type == .directory && top.permissions == 0o700 && top.owner == geteuid())
        let second = try BuildDirectory.create(temporaryDirectory: tmp, derivationName: "hello-2.12.drv", owner: nil)
        #expect(second.name == "guix-build-hello-2.12.drv-1")
        #expect(second.insidePath == dir.insidePath)
        try dir.remove()
        #expect(!HostPath.exists(dir.hostPath))
    }

    @Test func neverReusesPlantedNames() throws {
        let tmp = try scratch()
        defer { _ = try? run(["/bin/rm", "-rf", tmp]) }
        let victim = tmp + "/victim"
        mkdir(victim, 0o755)
        // What another user could pre-create in a shared TMPDIR: a directory, a file, a symlink.
        mkdir(tmp + "/guix-build-x.drv-0", 0o777)
        close(open(tmp + "/guix-build-x.drv-1", O_CREAT | O_WRONLY, 0o666))
        symlink(victim, tmp + "/guix-build-x.drv-2")
        let dir = try BuildDirectory.create(temporaryDirectory: tmp, derivationName: "x.drv", owner: nil)
        #expect(dir.name == "guix-build-x.drv-3")
        #expect(!HostPath.exists(victim + "/top"))
        try dir.remove()
        #expect(HostPath.exists(tmp + "/guix-build-x.drv-2") && HostPath.exists(victim))
    }

    @Test func temporaryDirectoryIsCanonicalised() throws {
        let tmp = try scratch()
        defer { _ = try? run(["/bin/rm", "-rf", tmp]) }
        mkdir(tmp + "/real", 0o755)
        symlink(tmp + "/real", tmp + "/link")
        let dir = try BuildDirectory.create(temporaryDirectory: tmp + "/link", derivationName: "x.drv", owner: nil)
        #expect(dir.parent == tmp + "/real")
    }

    @Test(arguments: ["a/b.drv", "..", ""])
    func refusesNamesThatAreNotOneComponent(_ name: String) throws {
        let tmp = try scratch()
        defer { _ = try? run(["/bin/rm", "-rf", tmp]) }
        #expect(throws: SandboxError.self) { try BuildDirectory.create(temporaryDirectory: tmp, derivationName: name, owner: nil) }
    }

    @Test(.enabled(if: geteuid() == 0)) func poolModeHandsTopToTheBuildUser() throws {
        let tmp = try scratch()
        defer { _ = try? run(["/bin/rm", "-rf", tmp]) }
        let dir = try BuildDirectory.create(temporaryDirectory: tmp, derivationName: "x.drv", owner: Ownership(uid: 4242, gid: 4343))
        let top = try #require(try HostPath.status(dir.topPath))
        let wrapper = try #require(try HostPath.status(dir.hostPath))
        #expect(top.owner == 4242 && top.group == 4343 && top.permissions == 0o700)
        #expect(wrapper.owner == 0 && wrapper.permissions == 0o700)
    }
}

/// `<drv>.chroot` in the store directory (SEC-09).
@Suite(.serialized, .tags(.medium))
struct ChrootDirectoryTests {
    @Test func createdPrivateAndReplacedAfresh() throws {
        var template = Array("/tmp/cloister-chroot-XXXXXX".utf8CString)
        let store = String(cString: try #require(mkdtemp(&template)))
        defer { _ = try? run(["/bin/rm", "-rf", store]) }
        let first = try ChrootDirectory.create(storeDirectory: store, derivationBaseName: "abc-hello.drv", buildGroup: nil)
        #expect(first.path == store + "/abc-hello.drv.chroot" && first.root == first.path + "/top")
        #expect(try HostPath.status(first.path)?.permissions == 0o750)
        #expect(try HostPath.status(first.root)?.permissions == 0o750)
        // Leftovers of an interrupted build (read-only dirs, a symlink out) are removed, not followed.
        mkdir(first.root + "/gnu", 0o555)
        symlink(store, first.root + "/escape")
        let second = try ChrootDirectory.create(storeDirectory: store, derivationBaseName: "abc-hello.drv", buildGroup: nil)
        #expect(!HostPath.exists(second.root + "/gnu") && !HostPath.exists(second.root + "/escape"))
        #expect(HostPath.exists(store))
        try second.remove()
        #expect(!HostPath.exists(second.path))
        #expect(throws: SandboxError.self) { try ChrootDirectory.create(storeDirectory: store, derivationBaseName: "../x", buildGroup: nil) }
    }

    @Test(.enabled(if: geteuid() == 0)) func poolModeGroupOwnsTop() throws {
        var template = Array("/tmp/cloister-chroot-XXXXXX".utf8CString)
        let store = String(cString: try #require(mkdtemp(&template)))
        defer { _ = try? run(["/bin/rm", "-rf", store]) }
        let chroot = try ChrootDirectory.create(storeDirectory: store, derivationBaseName: "abc-hello.drv", buildGroup: 4343)
        let top = try #require(try HostPath.status(chroot.root))
        let wrapper = try #require(try HostPath.status(chroot.path))
        #expect(top.owner == 0 && top.group == 4343 && top.permissions == 0o750)
        #expect(wrapper.owner == 0 && wrapper.group == 0 && wrapper.permissions == 0o750)
    }
}
