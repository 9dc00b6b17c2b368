import Testing
import Glibc
import StoreFormats
import LinuxSystem
@testable import LocalStore

@Suite(.tags(.medium)) struct LockTests {
    @Test func pathLocksExcludeOtherHoldersEvenInOneProcess() throws {
        let t = try TestStore()
        let store = try t.open()
        let p = fakePath("p"), q = fakePath("q")
        let first = try #require(try store.lockPaths([q, p]))
        // OFD locks: a second fd of the same process conflicts.
        #expect(try store.lockPaths([p], wait: false) == nil)
        first.release()
        let second = try #require(try store.lockPaths([p], wait: false))
        second.release()
    }

    @Test func staleLockIsRetried() throws {
        let t = try TestStore()
        let store = try t.open()
        let p = fakePath("p")
        let first = try #require(try store.lockPaths([p]))
        first.deleteOnRelease = true
        let lockFile = p.absolute(in: store.storeDirectory) + ".lock"
        // A waiter in another thread gets the lock once the holder deletes the file; it must
        // end up holding a lock on a fresh, empty file that exists.
        nonisolated(unsafe) var waiterSize: Int64 = -1
        nonisolated(unsafe) var waiterLinks: UInt64 = 0
        let configuration = store.configuration
        let thread = try ThreadRunner {
            let other = try LocalStore(configuration: configuration)
            let locks = try other.lockPaths([p])
            let st = try FileDescriptor.currentDirectory.status(at: Array(lockFile.utf8))
            waiterSize = st.size
            waiterLinks = st.linkCount
            locks?.release()
        }
        usleep(100_000)
        first.release()
        try thread.join()
        #expect(waiterSize == 0)
        #expect(waiterLinks == 1)
    }

    /// Two threads, each with its own store handle, add the same object at once: one copy, both
    /// get the path, no leftovers.
    @Test func twoThreadsAddTheSamePath() throws {
        let t = try TestStore()
        let configuration = try t.open().configuration
        let nar = try sampleTreeNAR("threads", bigFile: [UInt8](repeating: 7, count: 3 << 20))
        nonisolated(unsafe) var results: [StorePath?] = [nil, nil]
        let threads = try (0..<2).map { i in
            try ThreadRunner {
                let store = try LocalStore(configuration: configuration)
                results[i] = try store.addToStore(nar: ByteArraySource(nar), name: "same", method: .recursive)
            }
        }
        for thread in threads { try thread.join() }
        #expect(results[0] != nil && results[0] == results[1])
        let store = try t.open()
        #expect(try store.verifyStore(checkContents: true, repair: false).problems.isEmpty)
        #expect(shell("ls -A '\(t.root)/store' | grep -v '^.links$'") == "\(results[0]!.baseName)\n")
    }

    @Test func locksExcludeAcrossProcesses() throws {
        let t = try TestStore()
        let store = try t.open()
        let p = fakePath("p")
        let lockFile = p.absolute(in: store.storeDirectory) + ".lock"
        let locks = try #require(try store.lockPaths([p]))
        // flock(1) uses flock(2), not fcntl; python's fcntl.lockf uses F_SETLK: a classic POSIX
        // lock, as guix-daemon takes. It must conflict with our OFD lock.
        let probe = "python3 -c \"import fcntl,sys; f=open('\(lockFile)','r+'); fcntl.lockf(f, fcntl.LOCK_EX|fcntl.LOCK_NB)\" 2>/dev/null && echo free || echo busy"
        #expect(shell(probe) == "busy\n")
        locks.release()
        #expect(shell(probe) == "free\n")
    }
}

/// Runs a throwing closure on a new thread; `join` rethrows its error.
final class ThreadRunner: @unchecked Sendable {
    private var thread = pthread_t()
    private var error: (any Error)?
    private let body: () throws -> Void

    init(_ body: @escaping () throws -> Void) throws {
        self.body = body
        let box = Unmanaged.passRetained(self)
        let rc = pthread_create(&thread, nil, { arg in
            let runner = Unmanaged<ThreadRunner>.fromOpaque(arg!).takeRetainedValue()
            do { try runner.body() } catch { runner.error = error }
            return nil
        }, box.toOpaque())
        if rc != 0 { box.release(); throw TestFailure("pthread_create \(rc)") }
    }

    func join() throws {
        pthread_join(thread, nil)
        if let error { throw error }
    }
}
