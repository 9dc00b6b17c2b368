import Glibc

/// Plain POSIX threads for blocking work (builds wait on pipes and pidfds; swift-stack.md §6.4:
/// never block the cooperative pool). A `SystemThread` runs one closure and can be joined.
public final class SystemThread: @unchecked Sendable {
    private var handle: pthread_t

    private final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    private init(handle: pthread_t) { self.handle = handle }

    /// Starts `body` on a new thread (512 KiB stack is plenty for a build's bookkeeping; the
    /// default 8 MiB is used to stay safe with deep NAR walks).
    public static func start(_ body: @escaping @Sendable () -> Void) throws(SystemError) -> SystemThread {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { argument in
            guard let argument else { return nil }
            let box = Unmanaged<Box>.fromOpaque(argument).takeRetainedValue()
            box.body()
            return nil
        }, box)
        if rc != 0 {
            Unmanaged<Box>.fromOpaque(box).release()
            throw SystemError("pthread_create", errno: Errno(rawValue: rc))
        }
        return SystemThread(handle: thread)
    }

    /// Waits for the thread to finish.
    public func join() {
        _ = pthread_join(handle, nil)
    }

    /// Puts the calling thread in SCHED_IDLE: it runs only on a CPU nothing else wants (work
    /// done ahead, which the requests do themselves if it is not there in time). Lowering
    /// one's own policy needs no privilege; a failure leaves the thread as it was.
    public static func runOnlyWhenIdle() {
        var parameter = sched_param()
        parameter.sched_priority = 0
        _ = sched_setscheduler(0, idlePolicy, &parameter)  // pid 0: the calling thread.
    }

    /// SCHED_IDLE (Glibc does not export the constant; posix_spawn cannot set it either).
    static let idlePolicy: Int32 = 5

    /// Whether this process may move a thread out of SCHED_IDLE again (root, CAP_SYS_NICE, or
    /// RLIMIT_NICE ≥ 20): tried on a throw-away thread, so the answer is the kernel's.
    public static func canLeaveIdlePolicy() -> Bool {
        final class Answer: @unchecked Sendable { var value = false }
        let answer = Answer()
        guard let thread = try? SystemThread.start({
            var parameter = sched_param()
            parameter.sched_priority = 0
            guard sched_setscheduler(0, idlePolicy, &parameter) == 0 else { return }
            answer.value = sched_setscheduler(0, SCHED_OTHER, &parameter) == 0
        }) else { return false }
        thread.join()
        return answer.value
    }
}

/// A mutex with a condition variable: the one synchronisation primitive the scheduler needs
/// ("wait until some build finished"). Heap-allocated so the pthread objects never move.
public final class ConditionLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    public init() {
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        condition.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }

    /// Runs `body` holding the mutex.
    public func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        lock()
        defer { unlock() }
        return try body()
    }

    /// Releases the mutex, sleeps until `broadcast`, takes it again. Call with the mutex held,
    /// in a loop re-checking the predicate (spurious wake-ups).
    public func wait() { pthread_cond_wait(condition, mutex) }

    public func broadcast() { pthread_cond_broadcast(condition) }
}
