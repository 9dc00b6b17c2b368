import Glibc
import LinuxSystem
import LocalStore
import StoreFormats
import Testing

@Suite("NAR dump and restore on disk", .tags(.medium))
struct NARDumpRestoreTests {
    func dump(_ path: String) throws -> [UInt8] {
        try NARDumper.dump(path: path, to: [UInt8]()).sink
    }

    func restore(_ nar: [UInt8], to path: String, chunkSize: Int = 1 << 16) throws {
        var restorer = try NARRestorer(creating: path)
        let reader = NARReader(source: ByteArraySource(nar), chunkSize: chunkSize)
        try reader.read(into: &restorer)
        #expect(restorer.isComplete)
    }

    @Test(arguments: 0..<12)
    func randomTreeDumpRestoreDump(seed: Int) throws {
        let temp = try TemporaryDirectory()
        var random = RandomTree(state: UInt64(seed) &* 7919)
        try temp.descriptor.makeDirectory(at: Array("tree".utf8))
        try random.fill(try temp.descriptor.openDirectory(at: "tree"), depth: 3)
        let nar = try dump(temp.path + "/tree")
        try NAR.validate(nar)
        try restore(nar, to: temp.path + "/copy", chunkSize: 1 + random.below(100_000))
        #expect(try dump(temp.path + "/copy") == nar)
        let (hash, size) = try NARDumper.hash(path: temp.path + "/tree")
        #expect(size == UInt64(nar.count))
        #expect(hash == Hasher.hash(.sha256, nar))
    }

    @Test func restoresModesAndSymlinksVerbatim() throws {
        let temp = try TemporaryDirectory()
        let nar = try NARTestVectorFiles.bytes("nar/tree-nix28.nar")
        try restore(nar, to: temp.path + "/t")
        let t = try temp.descriptor.openDirectory(at: "t")
        #expect(try t.status(at: "a").permissions == 0o644)
        #expect(try t.openDirectory(at: "sub").status(at: "run.sh").permissions == 0o755)
        #expect(try t.readLink(at: Array("link".utf8)) == Array("a".utf8))
        #expect(try dump(temp.path + "/t") == nar)
        // A symlink at the top is dumped as a symlink, not followed.
        #expect(try dump(temp.path + "/t/link") == RawSymlinkNAR.of(Array("a".utf8)))
    }

    @Test func restoreRefusesAnExistingDestination() throws {
        let temp = try TemporaryDirectory()
        let nar = try NARTestVectorFiles.bytes("nar/tree-nix28.nar")
        try temp.descriptor.makeDirectory(at: Array("dir".utf8))
        try temp.descriptor.makeSymlink(at: Array("dangling".utf8), target: Array("nowhere".utf8))
        try temp.descriptor.makeSymlink(at: Array("todir".utf8), target: Array("dir".utf8))
        _ = try temp.descriptor.open(at: "file", [.writeOnly, .create])
        for existing in ["dir", "dangling", "todir", "file"] {
            #expect(throws: LocalStoreError.self) { try restore(nar, to: temp.path + "/" + existing) }
        }
        // Nothing was created through the symlinks and the existing entries are untouched.
        #expect(try temp.descriptor.openDirectory(at: "dir").entryNames().isEmpty)
        #expect(throws: SystemError.self) { try temp.descriptor.status(at: "nowhere") }
    }

    @Test func restorerNeverFollowsASymlinkItCreated() throws {
        // A producer that bypasses the reader's sort check: symlink "a" -> outside, then a
        // directory entry "a" with a file in it. Creation must fail at "a", not write outside.
        let temp = try TemporaryDirectory()
        try temp.descriptor.makeDirectory(at: Array("outside".utf8))
        var restorer = try NARRestorer(creating: temp.path + "/root")
        try restorer.beginDirectory()
        try restorer.beginEntry(name: Array("a".utf8))
        try restorer.symlink(target: Array((temp.path + "/outside").utf8))
        try restorer.endEntry()
        try restorer.beginEntry(name: Array("a".utf8))
        #expect(throws: LocalStoreError.self) { try restorer.beginDirectory() }
        #expect(throws: LocalStoreError.self) { try restorer.beginRegularFile(executable: false, size: 0) }
        #expect(try temp.descriptor.openDirectory(at: "outside").entryNames().isEmpty)
        try restorer.discard()
        #expect(throws: SystemError.self) { try temp.descriptor.status(at: "root") }
    }

    @Test func dumperRefusesSpecialFiles() throws {
        let temp = try TemporaryDirectory()
        try temp.descriptor.makeDirectory(at: Array("d".utf8))
        #expect(mkfifo(temp.path + "/d/fifo", 0o644) == 0)
        let error = #expect(throws: LocalStoreError.self) { try dump(temp.path + "/d") }
        #expect(error?.description == "file `\(temp.path)/d/fifo' has an unsupported type")
        #expect(throws: LocalStoreError.self) { try dump(temp.path + "/missing") }
    }

    @Test func badNARLeavesNothingBehindWhenDiscarded() throws {
        let temp = try TemporaryDirectory()
        let bad = try NARTestVectorFiles.bytes("nar/bad/duplicate.nar")
        var restorer = try NARRestorer(creating: temp.path + "/x")
        let reader = NARReader(source: ByteArraySource(bad))
        #expect(throws: FormatError.self) { try reader.read(into: &restorer) }
        try restorer.discard()
        #expect(try temp.descriptor.entryNames().isEmpty)
    }
}

/// The NAR of a lone symlink, spelled out token by token.
enum RawSymlinkNAR {
    static func of(_ target: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        func string(_ s: [UInt8]) {
            withUnsafeBytes(of: UInt64(s.count).littleEndian) { out += $0 }
            out += s
            out += [UInt8](repeating: 0, count: (8 - s.count % 8) % 8)
        }
        for token in ["nix-archive-1", "(", "type", "symlink", "target"] { string(Array(token.utf8)) }
        string(target)
        string(Array(")".utf8))
        return out
    }
}
