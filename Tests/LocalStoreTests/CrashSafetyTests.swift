/// Crash safety (issue 3 acceptance): a worker process (CrashWorker.swift) adds, registers and
/// collects against one store (every fourth iteration two workers at once, so one collects
/// while the other adds); the parent waits for a random number of completed operations,
/// then a random delay (so the kill lands inside the next operation), and SIGKILLs it. After
/// every kill the parent reopens the store and checks StoreInvariants: every valid path complete
/// (NAR hash and size as registered, canonical), references as declared, DerivationOutputs
/// present, no dangling Refs. Every few kills it collects garbage itself and checks that the
/// leftovers of dead processes — `.tmp-*` copies and links, unregistered paths, `trash`, stale
/// `.lock` files and temp-roots files — are gone, as guix-daemon's GC removes every invalid entry
/// not protected by a live temp root (gc.cc tryToDelete). Opening the store does not clean up
/// (guix-daemon does not either).
///
/// `CLOISTER_CRASH_ITERATIONS` and `CLOISTER_CRASH_SEED` override the run (default 200 kills,
/// seed from the clock, printed on failure).
import Testing
import Glibc
import StoreFormats
import LinuxSystem
@testable import LocalStore

@Suite(.tags(.large), .serialized) struct CrashSafetyTests {
    @Test func killedWorkersNeverLeaveAHalfRegisteredPath() throws {
        let iterations = Int(environmentValue("CLOISTER_CRASH_ITERATIONS") ?? "") ?? 200
        let baseSeed = UInt64(environmentValue("CLOISTER_CRASH_SEED") ?? "") ?? UInt64(time(nil))
        var random = SeededGenerator(seed: baseSeed)
        // tmpfs if there is one: hundreds of store openings and collections, no journal to wait on.
        let t = try TestStore(base: access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp")
        let log = t.root + "/worker.log"
        var killedMidway = 0, exitedEarly = 0, collections = 0
        var totalOperations = 0, deduplicationWindows = 0
        let started = monotonicSeconds()

        for iteration in 0..<iterations {
            let seed = random.next()
            // Every fourth iteration, two workers at once: one may collect while the other adds.
            let workers = try (0..<(iteration % 4 == 3 ? 2 : 1)).map { n in
                try WorkerProcess(test: "CrashSafetyWorker", environment: [
                    "CLOISTER_CRASH_WORKER": t.root, "CLOISTER_CRASH_SEED": "\(seed &+ UInt64(n))",
                ], log: log)
            }
            // The store is open, then `operations` complete, then we kill during the next one.
            let operations = Int(random.next() % 8)
            let alive = workers.map { $0.awaitProgress(1 + operations) }
            usleep(UInt32(random.next() % 4000))
            for worker in workers { worker.kill() }
            for (worker, alive) in zip(workers, alive) {
                let status = worker.wait()
                if WorkerProcess.wasKilled(status) && alive { killedMidway += 1; totalOperations += operations } else { exitedEarly += 1 }
            }
            let context = "iteration \(iteration), base seed \(baseSeed), worker seed \(seed), worker pids \(workers.map(\.pid))"

            let store = try t.open()
            var invariants = StoreInvariants(store)
            try invariants.checkValidPaths()
            deduplicationWindows += invariants.deduplicationWindows.count
            #expect(invariants.problems.isEmpty, "\(context): \(invariants.problems)")

            var failedAfterGC = false
            if iteration % 10 == 9 || iteration == iterations - 1 {
                collections += 1
                _ = try store.collectGarbage(GCOptions(action: .deleteDead))
                var after = StoreInvariants(store)
                let valid = try after.checkValidPaths()
                after.checkLinks(expectUsed: true)
                #expect(after.problems.isEmpty, "\(context), after GC: \(after.problems)")
                #expect(after.strayEntries(validPaths: valid) == [], "\(context): left after GC")
                let stale = listDirectory(t.root + "/state/temproots").filter { $0 != "\(getpid())" }
                #expect(stale == [], "\(context): stale temp roots")
                failedAfterGC = !after.problems.isEmpty || after.strayEntries(validPaths: valid) != [] || stale != []
            }
            if !invariants.problems.isEmpty || failedAfterGC { break }
        }
        let seconds = monotonicSeconds() - started
        print("crash safety: \(iterations) iterations, \(killedMidway + exitedEarly) kills (\(killedMidway) mid-operation after \(totalOperations) completed operations, \(exitedEarly) early), \(collections) checking collections, \(deduplicationWindows) directories caught in deduplication's window, \(Int(seconds * 10) / 10).\(Int(seconds * 10) % 10) s, base seed \(baseSeed)")
        // The worker must actually have run: most kills land after it opened the store.
        #expect(killedMidway >= (killedMidway + exitedEarly) * 9 / 10, "worker log: \(shell("tail -20 '\(log)'") ?? "")")
    }
}
