import Glibc
import LinuxSystem
import Testing

@Suite("LinuxSystem file layer", .tags(.medium))
struct FileDescriptorTests {
    @Test func createReadWriteListAndRemove() throws {
        let temp = try TemporaryDirectory()
        let dir = temp.descriptor
        try dir.makeDirectory(at: Array("sub".utf8))
        let sub = try dir.openDirectory(at: "sub")
        let file = try sub.open(at: "f", [.writeOnly, .create, .exclusive, .noFollow], mode: 0o600)
        try file.writeAll(Array("hello".utf8))
        try file.changeMode(0o755)
        try file.close()
        try sub.makeSymlink(at: Array("link".utf8), target: [0x66, 0xFF])
        #expect(try sub.readLink(at: Array("link".utf8)) == [0x66, 0xFF])
        #expect(try sub.entryNames().sorted { $0.lexicographicallyPrecedes($1) } == [Array("f".utf8), Array("link".utf8)])
        let status = try sub.status(at: "f")
        #expect(status.type == .regular && status.size == 5 && status.isOwnerExecutable)
        #expect(try sub.status(at: "link").type == .symlink)
        let reader = try sub.open(at: "f", [.readOnly, .noFollow])
        #expect(try reader.readAll() == Array("hello".utf8))
        try sub.rename(at: Array("f".utf8), to: dir, Array("g".utf8))
        #expect(try dir.status(at: "g").size == 5)
        try dir.setTimes(at: Array("g".utf8), access: timespec(tv_sec: 1, tv_nsec: 0), modification: timespec(tv_sec: 1, tv_nsec: 0))
        #expect(try dir.status(at: "g").modificationSeconds == 1)
        try dir.removeTree(at: Array("sub".utf8))
        #expect(try dir.entryNames() == [Array("g".utf8)])
    }

    @Test func errorsCarryCallPathAndErrno() throws {
        let temp = try TemporaryDirectory()
        try temp.descriptor.makeSymlink(at: Array("s".utf8), target: Array("/".utf8))
        // O_NOFOLLOW|O_DIRECTORY on a symlink must fail rather than follow it.
        let error = #expect(throws: SystemError.self) { try temp.descriptor.openDirectory(at: "s") }
        #expect(error?.call == "openat" && error?.path == "s")
        #expect(error?.errno == .notDirectory || error?.errno == .tooManySymbolicLinks)
        let missing = #expect(throws: SystemError.self) { try temp.descriptor.status(at: "nope") }
        #expect(missing?.description == "fstatat 'nope': No such file or directory")
        #expect(throws: SystemError.self) { try temp.descriptor.makeDirectory(at: [0x61, 0, 0x62]) }
    }
}
