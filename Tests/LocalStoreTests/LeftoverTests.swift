/// Leftovers of interrupted deduplication: `.tmp-link-<pid>-<random>` at the top of the store.
/// The GC keeps the ones of a live process (its rename is in flight) and removes a dead
/// process's, as guix-daemon's GC removes every invalid entry no live temp root protects.
import Testing
import Glibc
import StoreFormats
import LinuxSystem
@testable import LocalStore

@Suite(.tags(.medium)) struct LeftoverTests {
    @Test func temporaryLinksOfDeadProcessesAreCollected() throws {
        let t = try TestStore()
        let store = try t.open()
        _ = try store.addTextToStore(name: "live", contents: Array("x".utf8))  // our temp-roots file
        let s = t.root + "/store/"
        let dead = s + ".tmp-link-999999999-1", mine = s + ".tmp-link-\(getpid())-2", odd = s + ".tmp-link-"
        for file in [dead, mine, odd] { shell("echo x > '\(file)'") }
        _ = try store.collectGarbage(GCOptions(action: .deleteDead))
        #expect(access(dead, F_OK) != 0)
        #expect(access(odd, F_OK) != 0)
        #expect(access(mine, F_OK) == 0)
    }

    /// optimiseStore links through the top of the store: a valid directory never holds a
    /// temporary entry, and everything still verifies.
    @Test func optimiseLeavesValidPathsIntact() throws {
        let t = try TestStore()
        let store = try t.open { $0.deduplicate = false }
        let big = [UInt8](repeating: 0x64, count: 20_000)
        let a = try store.addToStore(nar: ByteArraySource(try sampleTreeNAR("a", bigFile: big)), name: "a", method: .recursive)
        let b = try store.addToStore(nar: ByteArraySource(try sampleTreeNAR("b", bigFile: big)), name: "b", method: .recursive)
        #expect(try store.optimiseStore().filesLinked == 1)
        #expect(statPath(a.absolute(in: store.storeDirectory) + "/data")!.st_ino == statPath(b.absolute(in: store.storeDirectory) + "/data")!.st_ino)
        var invariants = StoreInvariants(store)
        let valid = try invariants.checkValidPaths()
        #expect(invariants.problems == [])
        #expect(invariants.strayEntries(validPaths: valid).filter { !$0.hasSuffix(".lock") } == [])
    }
}

/// The daemon serves each connection with its own LocalStore in a thread of one process: the
/// temp roots of one must survive another opening (guix-daemon forks per connection, so there
/// one process is one temp-roots file).
@Suite(.tags(.medium)) struct SharedProcessTempRootTests {
    @Test func twoStoresInOneProcessKeepBothTempRoots() throws {
        let t = try TestStore()
        let (p, q) = try t.populate { store in
            (try store.addTextToStore(name: "p", contents: Array("p".utf8)), try store.addTextToStore(name: "q", contents: Array("q".utf8)))
        }
        let first = try t.open()
        try first.addTempRoot(p)
        let second = try t.open()
        try second.addTempRoot(q)
        let collector = try t.open()
        _ = try collector.collectGarbage(GCOptions(action: .deleteDead))
        #expect(try collector.isValidPath(p), "the first connection's temp root was dropped")
        #expect(try collector.isValidPath(q))
        _ = (first, second)
        #expect(listDirectory(t.root + "/state/temproots").count == 2)
    }
}
