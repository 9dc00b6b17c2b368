import Testing
import Foundation
import Glibc
import LinuxSystem
@testable import Daemon

/// Polling the client socket after a reply (ReplyPolling): only while the client answered
/// quickly last time and the machine has a CPU to spare, never longer than the budget, and off
/// with `CLOISTER_REPLY_POLL_US=0`.
@Suite(.tags(.medium)) struct ReplyPollingTests {
    @Test(.tags(.small)) func policyFollowsTheLastGap() {
        var policy = ReplyPolling.Policy(budget: 0.0002)
        #expect(policy.shouldPoll { true }, "the handshake's answers come back to back")
        policy.observed(gap: 0.002)
        #expect(!policy.shouldPoll { true })
        policy.observed(gap: 0.00005)
        #expect(policy.shouldPoll { true })
        #expect(!policy.shouldPoll { false }, "never on a busy machine")
        policy.observed(gap: 0.002)
        #expect(!policy.shouldPoll { true }, "a slow client stops polling")
    }

    @Test(.tags(.small)) func environmentSetsTheBudget() {
        #expect(ReplyPolling.fromEnvironment([:])?.budget == Double(ReplyPolling.defaultMicroseconds) / 1e6)
        #expect(ReplyPolling.fromEnvironment(["CLOISTER_REPLY_POLL_US": "0"]) == nil)
        #expect(ReplyPolling.fromEnvironment(["CLOISTER_REPLY_POLL_US": "50"])?.budget == 0.00005)
        #expect(ReplyPolling.fromEnvironment(["CLOISTER_REPLY_POLL_US": "99999"])?.budget == 0.001, "capped at 1 ms")
    }

    @Test func schedulerLoadCountsUs() throws {
        let running = try #require(SchedulerLoad.runnableTasks())
        #expect(running >= 1, "the caller itself runs")
        #expect(SchedulerLoad.onlineCPUs >= 1)
    }

    /// A stream over one end of a socketpair; the peer answers each reply after `delays[i]`.
    final class Peer: @unchecked Sendable {
        let ours: FileDescriptor
        let theirs: Int32
        init() throws {
            var fds: [Int32] = [-1, -1]
            try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0)
            ours = FileDescriptor(owning: fds[0])
            theirs = fds[1]
        }
        deinit { close(theirs) }

        /// Waits for our reply (one byte), then sends one byte after `delay` seconds.
        func answer(after delay: Double) -> Thread {
            let fd = theirs
            let thread = Thread {
                var byte: UInt8 = 0
                _ = read(fd, &byte, 1)
                usleep(UInt32(delay * 1e6))
                _ = write(fd, &byte, 1)
            }
            thread.start()
            return thread
        }
    }

    /// One round: reply, then read the next request; the peer answers after `delay`.
    func round(_ stream: SocketStream, _ peer: Peer, delay: Double) throws {
        _ = peer.answer(after: delay)
        var byte: [UInt8] = [7]
        try byte.withUnsafeBytes { try stream.write($0) }
        let n = try byte.withUnsafeMutableBytes { try stream.read(into: $0) }
        #expect(n == 1)
    }

    @Test func pollsOnlyAfterQuickAnswersAndOnlyWithASpareCPU() throws {
        let peer = try Peer()
        let polling = ReplyPolling(budget: 0.1)
        var spare = true
        polling.machineHasSpareCPU = { spare }
        let stream = SocketStream(peer.ours, polling: polling)
        // The first reply polls (a handshake's answers come back to back).
        try round(stream, peer, delay: 0.002)
        #expect(polling.hits == 1 && polling.misses == 0, "caught while polling")
        // A slow answer: the poll gives up at the budget and the read blocks; no more polling.
        let start = Date()
        try round(stream, peer, delay: 0.4)
        #expect(polling.misses == 1)
        #expect(Date().timeIntervalSince(start) >= 0.39)
        try round(stream, peer, delay: 0.002)
        #expect(polling.hits == 1 && polling.misses == 1, "no poll right after a slow answer")
        // Quick again, so polling is due, but the machine is busy: block instead.
        spare = false
        usleep(2_000)  // past the load sample's lifetime
        try round(stream, peer, delay: 0.002)
        #expect(polling.hits == 1 && polling.misses == 1, "no poll without a spare CPU")
        spare = true
        usleep(2_000)
        try round(stream, peer, delay: 0.002)
        #expect(polling.hits == 2)
    }
}
