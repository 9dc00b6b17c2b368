/// Bounded polling of the client socket after a reply (ARCHITECTURE.md, Choices: "polling after
/// a reply"). A client that fires requests back to back (`nix-store -q --references` over
/// many paths: one QueryPathInfo per path) sends the next one tens of microseconds after our
/// reply. A worker that blocks in read() meanwhile lets its CPU go idle, and on a VM waking an
/// idle vCPU costs more than the whole request (~90 µs here against ~20 µs of work). So after
/// a reply the worker polls the socket without blocking for at most `budget`, only while:
///
/// - the previous request of this session arrived within `budget` of our reply, or this is
///   the handshake (a session whose client thinks, or a person typing, stops polling after one
///   miss; a blocked read that ends within the budget switches polling back on), and
/// - the machine has a CPU nobody else wants: tasks running or ready (machine-wide, us
///   included) at most the number of CPUs, sampled at most once per `loadCheckInterval`. With
///   more sessions busy than CPUs, or any other load, nobody polls; and while polling the
///   worker yields to any task that becomes ready on its CPU.
///
/// What it costs: up to `budget` of CPU per request in a session whose requests come back to
/// back, on a CPU that would otherwise idle. `CLOISTER_REPLY_POLL_US=0` turns it off.
import LinuxSystem

final class ReplyPolling {
    /// Longest poll after one reply, in seconds.
    let budget: Double
    var policy: Policy
    /// Polls that caught the next request / that ran out of budget (for tests and profiling).
    private(set) var hits = 0, misses = 0
    /// Replies after which polling was due but the machine had no spare CPU.
    private(set) var busy = 0
    private var repliedAt: Double?
    private var loadCheckedAt = -1.0
    private var cpuIsSpare = false
    /// Whether the machine has a spare CPU (replaceable for tests).
    var machineHasSpareCPU: () -> Bool = {
        guard let running = SchedulerLoad.runnableTasks() else { return false }
        return running <= SchedulerLoad.onlineCPUs
    }
    static let loadCheckInterval = 0.001
    /// The default budget: above the ~50–80 µs a client like nix-store takes between a reply and
    /// its next request, far below anything a person would notice as CPU use.
    static let defaultMicroseconds = 200
    static let environmentVariable = "CLOISTER_REPLY_POLL_US"

    init(budget: Double) {
        self.budget = budget
        policy = Policy(budget: budget)
    }

    /// From `CLOISTER_REPLY_POLL_US` (microseconds, 0 = off, at most 1000); nil when off.
    static func fromEnvironment(_ environment: [String: String]) -> ReplyPolling? {
        let microseconds = environment[environmentVariable].flatMap { Int($0) } ?? defaultMicroseconds
        guard microseconds > 0 else { return nil }
        return ReplyPolling(budget: Double(min(microseconds, 1000)) / 1e6)
    }

    /// The decision, apart from clocks and sockets.
    struct Policy: Equatable {
        let budget: Double
        /// Poll after the next reply: the last gap between a reply and the next request was short.
        /// True at the start: a client's first messages come back to back (the handshake).
        var pollNext = true

        /// Records how long after our reply the next request arrived.
        mutating func observed(gap: Double) { pollNext = gap <= budget }

        func shouldPoll(machineHasSpareCPU: () -> Bool) -> Bool { pollNext && machineHasSpareCPU() }
    }

    /// A reply went out.
    func replied() { repliedAt = WallClock.monotonicSeconds }

    /// Before a read: if a reply went out since the last one and polling is due, polls with
    /// `attempt` (a non-blocking receive: nil when nothing is there yet) until it returns a
    /// count or the budget is spent. Returns the count, or nil when the caller must block.
    func readAfterReply(_ attempt: () throws(SystemError) -> Int?) throws(SystemError) -> Int? {
        guard let replied = repliedAt else { return nil }
        if policy.pollNext && !spareCPU() { busy += 1 }
        if policy.shouldPoll(machineHasSpareCPU: spareCPU) {
            let deadline = replied + budget
            while true {
                if let n = try attempt() {
                    hits += 1
                    repliedAt = nil
                    policy.observed(gap: 0)
                    return n
                }
                if WallClock.monotonicSeconds >= deadline { break }
                SchedulerLoad.yieldProcessor()
            }
            misses += 1
        }
        return nil
    }

    /// A blocking read returned: the gap since our reply decides whether to poll next time.
    func blockingReadReturned() {
        guard let replied = repliedAt else { return }
        repliedAt = nil
        policy.observed(gap: WallClock.monotonicSeconds - replied)
    }

    /// `machineHasSpareCPU`, sampled at most once per `loadCheckInterval`.
    private func spareCPU() -> Bool {
        let now = WallClock.monotonicSeconds
        if now - loadCheckedAt >= Self.loadCheckInterval {
            cpuIsSpare = machineHasSpareCPU()
            loadCheckedAt = now
        }
        return cpuIsSpare
    }
}
