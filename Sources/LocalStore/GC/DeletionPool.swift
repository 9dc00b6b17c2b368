/// A few threads that remove store entries for the garbage collector while it goes on with the
/// next ones. Deleting is mostly waiting, not computing: on ext4 mounted with `discard` (this
/// machine's root file system) every freed extent is discarded synchronously inside unlink or
/// rmdir, so one thread keeps one discard in flight and the device idles; several threads
/// overlap those waits (3,000 unlinks of 107 KiB files: 0.60 s on one thread, 0.24 s on eight, 0.21 s on sixteen).
/// Without `discard` the kernel's inode and page-cache teardown still splits over the cores
/// while the client only waits for the reply.
///
/// Invariant: `finish` returns only once every submitted job has run, so the collector still
/// replies after the bytes it reports are freed. A job returns the bytes it freed and never
/// throws (a failed removal leaves its entry in the trash for the next collection). If no
/// thread can be started, jobs run inline on the caller's thread.
import LinuxSystem

final class DeletionPool: @unchecked Sendable {
    typealias Job = @Sendable () -> UInt64

    private let lock = ConditionLock()
    private let maximumThreads: Int
    private var threads: [SystemThread] = []
    /// Shared under `lock`: jobs not yet taken, jobs taken but not done, bytes freed so far.
    private var pending: [Job] = []
    private var next = 0
    private var running = 0
    private var freed: UInt64 = 0
    private var closing = false

    init(threads: Int = 16) {
        maximumThreads = max(0, threads)
    }

    /// Queues `job`; starts another thread while there are fewer than the maximum.
    func submit(_ job: @escaping Job) {
        lock.lock()
        pending.append(job)
        let waiting = pending.count - next
        let startAnother = threads.count < maximumThreads && waiting > 0 && running + waiting > threads.count
        lock.broadcast()
        lock.unlock()
        if startAnother, let thread = try? SystemThread.start({ [self] in work() }) {
            lock.withLock { threads.append(thread) }
            return
        }
        if threads.isEmpty {
            // No thread could start: run what is queued here.
            runInline()
        }
    }

    /// Waits until every submitted job has run, ends the threads; the total bytes freed.
    func finish() -> UInt64 {
        runInline()
        lock.lock()
        while running > 0 || next < pending.count { lock.wait() }
        closing = true
        lock.broadcast()
        let started = threads
        threads = []
        let total = freed
        lock.unlock()
        for thread in started { thread.join() }
        return total
    }

    /// Jobs the caller runs itself when no thread exists (inline fallback).
    private func runInline() {
        guard lock.withLock({ threads.isEmpty }) else { return }
        while let job = take() { complete(job()) }
    }

    private func take() -> Job? {
        lock.withLock {
            guard next < pending.count else { return nil }
            let job = pending[next]
            next += 1
            running += 1
            return job
        }
    }

    private func complete(_ bytes: UInt64) {
        lock.withLock {
            freed += bytes
            running -= 1
            lock.broadcast()
        }
    }

    private func work() {
        while true {
            lock.lock()
            while next == pending.count && !closing { lock.wait() }
            if next == pending.count {
                lock.unlock()
                return
            }
            let job = pending[next]
            next += 1
            running += 1
            lock.unlock()
            complete(job())
        }
    }
}
