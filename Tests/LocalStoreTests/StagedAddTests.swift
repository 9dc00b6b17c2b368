import Testing
import Glibc
import StoreFormats
import LinuxSystem
@testable import LocalStore

/// The adds that stage on disk (StagedAdd.swift): flat bytes without a NAR, and NARs whose path
/// is known only afterwards. They must give what the in-memory forms give and leave nothing behind.
@Suite(.tags(.medium)) struct StagedAddTests {
    @Test func flatBytesGiveTheSamePathAsAFlatNAR() throws {
        let t = try TestStore()
        let store = try t.open()
        let contents = Array((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        let viaBytes = try store.addFlatToStore(contents: ByteArraySource(contents), name: "blob", hashAlgorithm: .sha1)
        #expect(viaBytes == (try store.storeDirectory.makeFixedOutputPath(method: .flat, hash: Hasher.hash(.sha1, contents), name: "blob",
                                                                          references: [], rules: .guix)))
        // The NAR form of the same add lands on the same path (a no-op).
        #expect(try store.addToStore(nar: ByteArraySource(NAR.regularFile(contents)), name: "blob", method: .flat, hashAlgorithm: .sha1) == viaBytes)
        let info = try #require(try store.queryPathInfo(viaBytes))
        #expect(info.narHash == Hasher.hash(.sha256, NAR.regularFile(contents)))
        #expect(info.narSize == UInt64(NAR.regularFile(contents).count))
        #expect(shell("ls -A '\(t.root)/store' | grep -c tmp") == nil)
    }

    @Test func stagedNARInstallsOrIsDiscarded() throws {
        let t = try TestStore()
        let store = try t.open()
        let nar = try sampleTreeNAR("staged")
        let staged = try store.stage(nar: ByteArraySource(nar))
        #expect(staged.narHash == Hasher.hash(.sha256, nar))
        #expect(staged.narSize == UInt64(nar.count))
        #expect(try store.hash(of: staged, algorithm: .sha1, contentsOnly: false) == Hasher.hash(.sha1, nar))
        #expect(throws: LocalStoreError.self) { try store.hash(of: staged, algorithm: .sha256, contentsOnly: true) }
        let path = fakePath("staged")
        // A wrong hash is refused and the copy dropped.
        #expect(throws: LocalStoreError.self) {
            try store.install(staged, as: ValidPathInfo(path: path, narHash: Hasher.hash(.sha256, [1]), references: []))
        }
        #expect(try !store.isValidPath(path))
        #expect(shell("ls -A '\(t.root)/store' | grep -c tmp") == nil)
        let again = try store.stage(nar: ByteArraySource(nar))
        try store.install(again, as: ValidPathInfo(path: path, narHash: again.narHash, references: []))
        #expect(try store.isValidPath(path))
        let file = try store.stage(nar: ByteArraySource(NAR.regularFile(Array("text".utf8))))
        #expect(try store.hash(of: file, algorithm: .md5, contentsOnly: true) == Hasher.hash(.md5, Array("text".utf8)))
        store.discard(file)
        #expect(shell("ls -A '\(t.root)/store' | grep -c tmp") == nil)
    }
}
