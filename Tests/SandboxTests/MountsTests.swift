import Glibc
import LinuxSystem
import Testing

/// LinuxSystem's parent-side mount helpers on a scratch tmpfs (root only; the host's mount table
/// is touched for the duration of the test and restored).
@Suite(.serialized, .tags(.medium), .enabled(if: geteuid() == 0))
struct MountsTests {
    @Test func mountReadOnlyBindAndUnmount() throws {
        var template = Array("/tmp/cloister-mounts-XXXXXX".utf8CString)
        let base = String(cString: try #require(mkdtemp(&template)))
        defer { rmdir(base + "/a"); rmdir(base + "/b"); rmdir(base) }
        mkdir(base + "/a", 0o755)
        mkdir(base + "/b", 0o755)
        try Mounts.mount(source: "none", target: base + "/a", type: "tmpfs", flags: [.noSetuid, .noDevices], data: "size=1m")
        defer { try? Mounts.unmount(base + "/a", detach: true) }
        #expect(try Mounts.isReadOnly(base + "/a") == false)
        try Mounts.mount(source: base + "/a", target: base + "/b", type: nil, flags: [.bind])
        defer { try? Mounts.unmount(base + "/b", detach: true) }
        try Mounts.mount(source: "none", target: base + "/b", type: nil, flags: [.bind, .remount, .readOnly, .noSetuid, .noDevices])
        #expect(try Mounts.isReadOnly(base + "/b"))
        #expect(try Mounts.isReadOnly(base + "/a") == false)
        #expect(open(base + "/b/x", O_CREAT | O_WRONLY, 0o644) == -1 && errno == EROFS)
        try Mounts.unmount(base + "/b")
        try Mounts.unmount(base + "/a")
        #expect(throws: SystemError.self) { try Mounts.unmount(base + "/a") }
    }
}
