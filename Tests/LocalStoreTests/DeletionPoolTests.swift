import Testing
import Glibc
import StoreFormats
import LinuxSystem
@testable import LocalStore

/// The collector's DeletionPool (jobs overlap, every one runs before `finish` returns, bytes
/// add up) and a collection that uses it: everything dead goes, the bytes it reports are the
/// bytes the store held.
@Suite(.tags(.medium)) struct DeletionPoolTests {
    /// Counts jobs that have started; a job waits (up to 5 s) for `needed` to have started.
    final class Rendezvous: @unchecked Sendable {
        let lock = ConditionLock()
        var started = 0
        func meet(_ needed: Int) -> Bool {
            lock.lock()
            defer { lock.unlock() }
            started += 1
            lock.broadcast()
            var deadline = timespec()
            clock_gettime(CLOCK_MONOTONIC, &deadline)
            let end = Double(deadline.tv_sec) + 5
            while started < needed {
                var now = timespec()
                clock_gettime(CLOCK_MONOTONIC, &now)
                if Double(now.tv_sec) > end { return false }
                lock.unlock()
                usleep(1000)
                lock.lock()
            }
            return true
        }
    }

    @Test func jobsOverlapAndAllRunBeforeFinish() {
        let pool = DeletionPool(threads: 4)
        let rendezvous = Rendezvous()
        // Each job returns 1 only if all four were running at once: a pool that ran them one
        // after the other would time out in the first and return 0.
        for _ in 0..<4 { pool.submit { rendezvous.meet(4) ? 1 : 0 } }
        for i in 0..<100 { pool.submit { UInt64(i) } }
        #expect(pool.finish() == 4 + 4950)
    }

    @Test func withoutThreadsJobsRunInline() {
        let pool = DeletionPool(threads: 0)
        let ran = Rendezvous()
        for _ in 0..<10 { pool.submit { _ = ran.meet(0); return 7 } }
        // Inline: each job has run by the time `submit` returned.
        #expect(ran.started == 10)
        #expect(pool.finish() == 70)
    }

    /// Sum of the sizes of distinct inodes (files and symlinks) under `path`.
    func storedBytes(_ path: String) -> UInt64? {
        let out = shell("find '\(path)' \\( -type f -o -type l \\) -printf '%i %s\\n' | sort -u | awk '{s+=$2} END {print s+0}'")
        return out.flatMap { UInt64($0.filter { !$0.isWhitespace }) }
    }

    @Test func collectingManyPathsFreesWhatTheStoreHeld() throws {
        let t = try TestStore()
        try t.populate { store in
            for i in 0..<300 {
                _ = try store.addTextToStore(name: "t\(i)", contents: Array("text \(i) ".utf8) + [UInt8](repeating: 0x61, count: i * 37))
            }
            // Deduplicated trees: two share their big file, a third has its own.
            for (i, byte) in [UInt8(0x62), 0x62, 0x63].enumerated() {
                let big = [UInt8](repeating: byte, count: 20_000 + (byte == 0x63 ? 1 : 0))
                _ = try store.addToStore(nar: ByteArraySource(try sampleTreeNAR("tree\(i)", bigFile: big)), name: "tree\(i)", method: .recursive)
            }
        }
        let store = try t.open()
        let links = t.root + "/store/.links"
        // The shared tree file and the larger texts (≥ 8 KiB) are deduplicated.
        #expect(shell("ls '\(links)' | wc -l") == "80\n")
        let held = try #require(storedBytes(t.root + "/store"))
        let result = try store.collectGarbage(GCOptions(action: .deleteDead))
        #expect(result.paths.filter { !$0.hasSuffix(".lock") }.count == 303)
        #expect(result.bytesFreed == held)
        #expect(try store.queryAllValidPaths().isEmpty)
        #expect(shell("ls -A '\(t.root)/store' | grep -v -x -e .links -e '.*\\.lock' | wc -l") == "0\n")
        #expect(shell("ls '\(links)' | wc -l") == "0\n")
    }
}
