import Testing
import Glibc
import LinuxSystem
@testable import LocalStore

/// SpareInodes: files and directories made ahead are renamed into place exactly once, with the
/// mode asked for; an existing target, or anything in the spares directory that is not what
/// was made there (content, a second link, a directory others may enter), is never used.
@Suite(.tags(.medium)) struct SpareInodesTests {
    @Test func filesAndDirectoriesAreRenamedIntoPlace() throws {
        let dir = try TemporaryDirectory()
        let spares = SpareInodes(directory: dir.path)
        spares.prepare(.file, count: 2)
        spares.prepare(.file, count: 2)
        spares.prepare(.directory, count: 1)
        let shared = try dir.descriptor.openDirectory(at: ".cloister-spares")
        #expect(try shared.status().permissions == 0o700)
        #expect(try shared.entryNames().count == 3)
        let inodes = Set(try shared.entryNames().map { try shared.status(at: $0).inode })

        let taken = spares.take(.file, as: Array("a.lock".utf8), in: dir.descriptor, mode: 0o644)
        #expect(taken.taken && taken.file != nil)
        let status = try dir.descriptor.status(at: Array("a.lock".utf8))
        #expect(status.permissions == 0o644 && status.size == 0 && inodes.contains(status.inode))
        try taken.file?.writeAll(Array("x".utf8))
        #expect(try dir.descriptor.status(at: Array("a.lock".utf8)).size == 1, "the returned descriptor is the renamed file")

        // An existing target is left alone, and the spare stays.
        #expect(!spares.take(.file, as: Array("a.lock".utf8), in: dir.descriptor, mode: 0o600).taken)
        #expect(try shared.entryNames().count == 2)

        #expect(spares.take(.directory, as: Array("xy".utf8), in: dir.descriptor, mode: 0o755).taken)
        #expect(try dir.descriptor.status(at: Array("xy".utf8)).type == .directory)
        #expect(try dir.descriptor.status(at: Array("xy".utf8)).permissions == 0o755)
        #expect(!spares.take(.directory, as: Array("xz".utf8), in: dir.descriptor, mode: 0o755).taken, "none left")
    }

    @Test func onlyWhatWasMadeIsUsed() throws {
        let dir = try TemporaryDirectory()
        let spares = SpareInodes(directory: dir.path)
        spares.prepare(.directory, count: 0)
        let shared = try dir.descriptor.openDirectory(at: ".cloister-spares")
        let written = try shared.open(at: Array("file-written".utf8), [.writeOnly, .create, .exclusive], mode: 0o600)
        try written.writeAll(Array("not empty".utf8))
        try shared.open(at: Array("file-linked".utf8), [.writeOnly, .create, .exclusive], mode: 0o600).close()
        try shared.link(at: Array("file-linked".utf8), to: dir.descriptor, Array("elsewhere".utf8))
        try shared.makeDirectory(at: Array("dir-full".utf8), mode: 0o700)
        try shared.openDirectory(at: "dir-full").makeDirectory(at: Array("x".utf8))
        #expect(!spares.take(.file, as: Array("a".utf8), in: dir.descriptor, mode: 0o600).taken)
        #expect(!spares.take(.directory, as: Array("b".utf8), in: dir.descriptor, mode: 0o755).taken)

        // A spares directory others may enter is not used at all.
        spares.prepare(.file, count: 3)
        try shared.changeMode(0o755)
        #expect(!spares.take(.file, as: Array("a".utf8), in: dir.descriptor, mode: 0o600).taken)
        try shared.changeMode(0o700)
        #expect(spares.take(.file, as: Array("a".utf8), in: dir.descriptor, mode: 0o600).taken)
    }
}
