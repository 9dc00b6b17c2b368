/// Fast wake-ups for a session while its client fires lookups back to back (ARCHITECTURE.md,
/// Choices: "lookup bursts"). `nix-store -q --references` over 1,000 paths is 1,000
/// QueryPathInfo round trips; each one wakes the worker and then the client, and on a VM a CPU
/// that went idle in between takes ~90 µs to wake — more than the client and the worker spend
/// on the request together. So once a session's requests come back to back, the worker holds a
/// CPU latency request of 0 µs (CPULatencyRequest): idle CPUs poll instead of halting, and a
/// wake-up costs about a microsecond. The request is lifted
///
/// - when the client is silent for `silence` (a receive timeout on the socket: no timer, no
///   per-request system call), and
/// - before any operation that is not a lookup (builds, NAR transfers, GC, substituter
///   queries: they may run for minutes, and polling CPUs would burn all that time),
///
/// so CPUs poll only between lookups that follow each other within milliseconds. Needs root
/// (the device is root's); other daemons poll the socket instead (ReplyPolling).
import LinuxSystem

final class LookupBurst {
    let request: CPULatencyRequest
    private(set) var policy: Policy
    /// Times the limit was set / lifted on silence / lifted for another operation (for logs and tests).
    private(set) var holds = 0, liftedOnSilence = 0, liftedForOperation = 0
    private var repliedAt: Double?

    /// A client silent this long ends the burst.
    let silence: Double
    static let defaultSilence = 0.002
    static let environmentVariable = "CLOISTER_LOOKUP_BURSTS"

    /// `backToBack`: a request this soon after our reply is back to back (tests widen it).
    init(request: CPULatencyRequest, silence: Double = defaultSilence, backToBack: Double = Policy.defaultBackToBack) {
        self.request = request
        self.silence = silence
        policy = Policy(backToBack: backToBack)
    }

    /// The decision, apart from clocks, sockets and the kernel.
    struct Policy: Equatable {
        /// Requests that came within `backToBack` of the reply before them, in a row.
        var quickRequests = 0
        /// Whether the limit is (meant to be) in force.
        var holding = false
        /// A request this soon after our reply is back to back (nix-store sends the next one
        /// 20–80 µs after it reads a reply).
        var backToBack = defaultBackToBack
        static let defaultBackToBack = 0.001
        /// Back-to-back requests before a lookup holds the limit (the handshake's messages and
        /// SetOptions come back to back too, so the first QueryPathInfo of a burst holds it).
        static let quickRequestsToHold = 2

        mutating func requestArrived(gap: Double) {
            quickRequests = gap <= backToBack ? quickRequests + 1 : 0
        }

        /// Whether the limit should be in force while this operation runs and the client
        /// answers: from the `quickRequestsToHold`th back-to-back lookup on, until an operation
        /// that is not a lookup, or silence.
        mutating func operationStarts(lookup: Bool) -> Bool {
            if !lookup { quickRequests = 0 }
            holding = lookup && (holding || quickRequests >= Self.quickRequestsToHold)
            return holding
        }

        /// The client said nothing for `silence`.
        mutating func silence() {
            quickRequests = 0
            holding = false
        }
    }

    /// A reply went out.
    func replied() { repliedAt = WallClock.monotonicSeconds }

    /// A read returned bytes (or the end of the stream).
    func received() {
        guard let replied = repliedAt else { return }
        repliedAt = nil
        policy.requestArrived(gap: WallClock.monotonicSeconds - replied)
    }

    /// The session decoded the next operation.
    func operationStarts(lookup: Bool, socket: FileDescriptor) {
        let hold = policy.operationStarts(lookup: lookup)
        if hold && !request.isLimited {
            do {
                try Socket.setReceiveTimeout(socket, seconds: silence)
                try request.limit(microseconds: 0)
                holds += 1
            } catch { lift(socket) }
        } else if !hold && request.isLimited {
            lift(socket)
            liftedForOperation += 1
        }
    }

    /// A receive ran into the silence timeout: the burst is over.
    func silent(_ socket: FileDescriptor) {
        policy.silence()
        guard request.isLimited else { return }
        lift(socket)
        liftedOnSilence += 1
    }

    /// Lifts the limit and lets receives block again. A failure to lift leaves nothing worse
    /// than polling CPUs until the session ends and closes the device.
    private func lift(_ socket: FileDescriptor) {
        try? request.lift()
        try? Socket.setReceiveTimeout(socket, seconds: nil)
    }
}
