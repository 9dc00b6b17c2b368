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

    @Test func firstJobsRunBeforeQueuedOnes() {
        let pool = DeletionPool(threads: 1)
        let gate = Rendezvous()
        final class Order: @unchecked Sendable {
            let lock = ConditionLock()
            var names: [String] = []
            func add(_ name: String) { lock.withLock { names.append(name) } }
        }
        let order = Order()
        // The one thread is held in the first job while the others queue up behind it.
        pool.submit { _ = gate.meet(2); order.add("held"); return 0 }
        while gate.lock.withLock({ gate.started }) < 1 { usleep(1000) }
        pool.submit { order.add("queued"); return 0 }
        pool.submit(first: true) { order.add("first"); return 0 }
        _ = gate.meet(0)
        _ = pool.finish()
        #expect(order.names == ["held", "first", "queued"])
    }

    /// A NAR of `directories` directories of `files` files each, every directory also holding a
    /// chain three levels deep (below the depth removed in parallel) and a symlink.
    func treeNAR(directories: Int, files: Int) throws -> [UInt8] {
        var w = NARWriter(sink: [UInt8]())
        try w.beginDirectory()
        for d in 0..<directories {
            try w.beginEntry(name: Array(String(format: "d%03d", d).utf8)); try w.beginDirectory()
            try w.beginEntry(name: Array("deep".utf8)); try w.beginDirectory()
            try w.beginEntry(name: Array("er".utf8)); try w.beginDirectory()
            try w.beginEntry(name: Array("f".utf8))
            let deep = Array("deep \(d)".utf8)
            try w.beginRegularFile(executable: false, size: UInt64(deep.count))
            try deep.withUnsafeBytes { try w.contents($0) }
            try w.endRegularFile(); try w.endEntry()
            try w.endDirectory(); try w.endEntry()
            try w.endDirectory(); try w.endEntry()
            for f in 0..<files {
                try w.beginEntry(name: Array(String(format: "f%03d", f).utf8))
                let body = [UInt8](repeating: UInt8(f & 0xff), count: 100 + d * 7 + f)
                try w.beginRegularFile(executable: f % 2 == 0, size: UInt64(body.count))
                try body.withUnsafeBytes { try w.contents($0) }
                try w.endRegularFile(); try w.endEntry()
            }
            try w.beginEntry(name: Array("link".utf8)); try w.symlink(target: Array("f000".utf8)); try w.endEntry()
            try w.endDirectory(); try w.endEntry()
        }
        try w.endDirectory()
        return w.sink
    }

    @Test func aTreeIsRemovedByManyJobsAndCountedOnce() throws {
        let t = try TestStore()
        let paths = try t.populate { store in
            try (0..<3).map { i in
                try store.addToStore(nar: ByteArraySource(try treeNAR(directories: 20 + i, files: 30)), name: "tree\(i)", method: .recursive)
            }
        }
        let store = try t.open { $0.deduplicate = false }
        let held = try #require(storedBytes(t.root + "/store"))
        let r = try store.collectGarbage(GCOptions(action: .deleteSpecific([paths[0]])))
        #expect(r.paths == [paths[0].absolute(in: store.storeDirectory)])
        #expect(access(paths[0].absolute(in: store.storeDirectory), F_OK) != 0)
        let rest = try store.collectGarbage(GCOptions(action: .deleteDead))
        #expect(r.bytesFreed + rest.bytesFreed == held)
        #expect(try store.queryAllValidPaths().isEmpty)
        #expect(shell("ls -A '\(t.root)/store' | grep -v -x -e .links -e '.*\\.lock' | wc -l") == "0\n")
    }
}
