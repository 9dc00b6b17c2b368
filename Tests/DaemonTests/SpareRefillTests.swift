import Testing
@testable import Daemon

/// When the pool starts a replacement spare: not during the session it just handed a
/// connection to (starting a worker costs milliseconds of CPU that the new client's handshake
/// would wait behind on a small machine), unless no spare is left.
@Suite(.tags(.small))
struct SpareRefillTests {
    let delay = WorkerPool.refillDelay

    @Test func fullPoolStartsNothing() {
        #expect(WorkerPool.refillTime(spareCount: 2, size: 2, lastDispatch: 100, holdUntil: 0) == nil)
        #expect(WorkerPool.refillTime(spareCount: 0, size: 0, lastDispatch: 100, holdUntil: 0) == nil)
    }

    @Test func aSpareLeftWaitsForTheDelayAfterTheLastHandOff() {
        #expect(WorkerPool.refillTime(spareCount: 1, size: 2, lastDispatch: 100, holdUntil: 0) == 100 + delay)
        #expect(delay > 0 && delay <= 0.05)
    }

    @Test func noSpareLeftRefillsAtOnce() {
        #expect(WorkerPool.refillTime(spareCount: 0, size: 2, lastDispatch: 100, holdUntil: 0) == 0)
    }

    @Test func theHoldAfterIdleDeathsStillApplies() {
        #expect(WorkerPool.refillTime(spareCount: 0, size: 2, lastDispatch: 100, holdUntil: 150) == 150)
        #expect(WorkerPool.refillTime(spareCount: 1, size: 2, lastDispatch: 100, holdUntil: 150) == 150)
    }
}
