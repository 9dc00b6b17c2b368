/// Several LocalStores in one process, one per thread, as the daemon serves its connections:
/// the crash worker's operation mix (adds of every kind, roots, collections, deletions,
/// optimisation) runs in three threads at once against one store; afterwards the store passes
/// StoreInvariants, and a final collection leaves only valid paths.
import Testing
import Glibc
import StoreFormats
import LinuxSystem
@testable import LocalStore

@Suite(.tags(.medium), .serialized) struct ThreadedStoreTests {
    @Test func threeConnectionsAtOnce() throws {
        let t = try TestStore(base: access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp")
        _ = try t.open()
        let seed = UInt64(time(nil))
        let configuration = t.configuration
        let root = t.root
        let runners = try (0..<3).map { n in
            try ThreadRunner {
                let store = try LocalStore(configuration: configuration)
                var operations = CrashOperations(store: store, root: root, random: SeededGenerator(seed: seed &+ UInt64(n)))
                for _ in 0..<120 { try operations.step() }
            }
        }
        var failures: [String] = []
        for runner in runners {
            do { try runner.join() } catch { failures.append("\(error)") }
        }
        #expect(failures == [], "seed \(seed)")
        let store = try t.open()
        var invariants = StoreInvariants(store)
        try invariants.checkValidPaths()
        #expect(invariants.problems == [], "seed \(seed)")
        _ = try store.collectGarbage(GCOptions(action: .deleteDead))
        var after = StoreInvariants(store)
        let valid = try after.checkValidPaths()
        after.checkLinks(expectUsed: true)
        #expect(after.problems == [], "seed \(seed)")
        #expect(after.strayEntries(validPaths: valid).filter { !$0.hasSuffix(".lock") } == [], "seed \(seed)")
    }
}
