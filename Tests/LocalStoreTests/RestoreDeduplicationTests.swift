import Testing
import Glibc
import StoreFormats
import LinuxSystem
@testable import LocalStore

/// Deduplication while restoring: the `.links` keys come from the `BackgroundHasher` (the same
/// pass as the NAR hash, on a second thread past 4 MiB), never from reading files back.
@Suite struct RestoreDeduplicationTests {
    static func entryName(_ i: Int) -> String { i < 10 ? "f0\(i)" : "f\(i)" }

    /// The NAR of one regular file (what a `.links` key hashes).
    static func fileNAR(_ contents: [UInt8], executable: Bool) throws -> [UInt8] {
        var w = NARWriter(sink: [UInt8]())
        try w.beginRegularFile(executable: executable, size: UInt64(contents.count))
        try contents.withUnsafeBytes { try w.contents($0) }
        try w.endRegularFile()
        return w.sink
    }

    @Test(.tags(.small), arguments: [(UInt64(0), 64, 2), (UInt64(1000), 4096, 3), (UInt64(1 << 40), 1 << 18, 8), (UInt64(5000), 333, 4)])
    func backgroundHasherMatchesDirectHashing(inlineLimit: UInt64, blockSize: Int, blockCount: Int) throws {
        var random = SeededGenerator(seed: 0x5eed ^ inlineLimit ^ UInt64(blockSize))
        let hasher = BackgroundHasher(.sha256, inlineLimit: inlineLimit, blockSize: blockSize, blockCount: blockCount)
        defer { hasher.stop() }
        var stream: [UInt8] = []
        var files: [(BackgroundHasher.FileRange, [UInt8], Bool)] = []
        func feed(_ bytes: [UInt8]) {
            // In uneven pieces, as socket reads arrive.
            var at = 0
            while at < bytes.count {
                let n = min(bytes.count - at, Int.random(in: 1...700, using: &random))
                bytes[at..<(at + n)].withUnsafeBytes { hasher.update($0) }
                at += n
            }
            stream += bytes
        }
        for i in 0..<40 {
            feed((0..<Int.random(in: 0...300, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) })
            let contents = (0..<Int.random(in: 1...9000, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            let executable = i % 3 == 0
            let range = try #require(hasher.beginFile(executable: executable, size: UInt64(contents.count)))
            feed(contents)
            files.append((range, contents, executable))
            // Some keys are asked for at once (the block is still being filled), some later.
            if i % 4 == 0 {
                #expect(hasher.key(of: range) == Hasher.hash(.sha256, try Self.fileNAR(contents, executable: executable)))
            }
        }
        #expect(hasher.finish() == Hasher.hash(.sha256, stream))
        #expect(hasher.count == UInt64(stream.count))
        for (range, contents, executable) in files {
            #expect(hasher.key(of: range) == Hasher.hash(.sha256, try Self.fileNAR(contents, executable: executable)))
        }
    }

    /// A directory of 30 files of 200,000 bytes (6 MB, so hashed on the thread): f00–f09
    /// distinct, f10–f19 the same bytes again, f20–f29 the same bytes but executable.
    static func bigTreeNAR(salt: String) throws -> [UInt8] {
        var w = NARWriter(sink: [UInt8]())
        try w.beginDirectory()
        for i in 0..<30 {
            try w.beginEntry(name: Array(Self.entryName(i).utf8))
            let contents = [UInt8](repeating: UInt8(i % 10), count: 199_990) + Array("block \(i % 10)".utf8)
            try w.beginRegularFile(executable: i >= 20, size: UInt64(contents.count))
            try contents.withUnsafeBytes { try w.contents($0) }
            try w.endRegularFile()
            try w.endEntry()
        }
        try w.beginEntry(name: Array("note".utf8))
        let note = Array("salt \(salt)".utf8)
        try w.beginRegularFile(executable: false, size: UInt64(note.count))
        try note.withUnsafeBytes { try w.contents($0) }
        try w.endRegularFile()
        try w.endEntry()
        try w.endDirectory()
        return w.sink
    }

    @Test(.tags(.medium)) func largeAddsDeduplicateWhileRestoring() throws {
        let t = try TestStore()
        let store = try t.open()
        let first = try store.addToStore(nar: ByteArraySource(try Self.bigTreeNAR(salt: "1")), name: "big", method: .recursive)
        let secondNAR = try Self.bigTreeNAR(salt: "2")
        let second = fakePath("imported")
        try store.addToStore(info: ValidPathInfo(path: second, narHash: Hasher.hash(.sha256, secondNAR), narSize: UInt64(secondNAR.count)),
                             nar: ByteArraySource(secondNAR))
        func status(_ path: StorePath, _ name: String) throws -> stat {
            try #require(statPath(path.absolute(in: store.storeDirectory) + "/" + name))
        }
        for i in 0..<10 {
            let plain = try status(first, Self.entryName(i))
            let again = try status(first, Self.entryName(i + 10))
            let executable = try status(first, Self.entryName(i + 20))
            #expect(plain.st_ino == again.st_ino)
            #expect(plain.st_ino != executable.st_ino)
            #expect(plain.st_ino == (try status(second, Self.entryName(i + 10))).st_ino)
            #expect(executable.st_ino == (try status(second, Self.entryName(i + 20))).st_ino)
            // Two paths × two names + the .links entry.
            #expect(plain.st_nlink == 5 && executable.st_nlink == 3)
            #expect(executable.st_mode & 0o7777 == 0o555 && plain.st_mode & 0o7777 == 0o444)
        }
        #expect(listDirectory(store.layout.linksDirectory).count == 20)
        var invariants = StoreInvariants(store)
        try invariants.checkValidPaths()
        for path in [first, second] { invariants.checkCanonical(path.absolute(in: store.storeDirectory)) }
        invariants.checkLinks(expectUsed: true)
        #expect(invariants.problems == [])
        #expect(invariants.deduplicationWindows == [])
        #expect(shell("ls -A '\(t.root)/store' | grep -c tmp") == nil)
    }

    @Test(.tags(.medium)) func aCorruptLinkIsReplacedNotUsed() throws {
        let t = try TestStore()
        let store = try t.open()
        let nar = try Self.bigTreeNAR(salt: "c")
        // Plant a wrong-sized file under the key f00's contents will have.
        let f00 = [UInt8](repeating: 0, count: 199_990) + Array("block 0".utf8)
        let key = Hasher.hash(.sha256, try Self.fileNAR(f00, executable: false)).nix32
        #expect(shell("printf bogus > '\(store.layout.linksDirectory)/\(key)'") != nil)
        let path = try store.addToStore(nar: ByteArraySource(nar), name: "big", method: .recursive)
        var invariants = StoreInvariants(store)
        try invariants.checkValidPaths()
        invariants.checkLinks(expectUsed: true)
        #expect(invariants.problems == [])
        let file = try #require(statPath(path.absolute(in: store.storeDirectory) + "/f00"))
        #expect(file.st_nlink == 3)
    }
}
