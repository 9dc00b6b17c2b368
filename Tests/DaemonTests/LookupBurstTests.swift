import Testing
import Foundation
import Glibc
import LinuxSystem
import StoreFormats
import WorkerProtocol
@testable import Daemon

/// Fast CPU wake-ups across lookups fired back to back (LookupBurst): held from the second
/// back-to-back lookup, lifted before anything that is not a lookup and when the client falls
/// silent, and never held by a session that alternates adds and lookups.
@Suite(.tags(.medium)) struct LookupBurstTests {
    @Test(.tags(.small)) func policyHoldsOnlyAcrossBackToBackLookups() {
        // Each step: the gap before a request (nil: no reply before it, or silence first), whether
        // it is a lookup, and whether the limit should then be held.
        let quick = 0.00005
        let steps: [(gap: Double?, lookup: Bool, held: Bool, why: String)] = [
            (nil, true, false, "no gap seen yet"),
            (quick, true, false, "one quick request is not a burst"),
            (quick, true, true, "two are"),
            (0.0015, true, true, "a slower gap short of silence keeps the burst"),
            (quick, false, false, "an add, a build or a transfer ends it"),
            (quick, true, false, "and the count starts again"),
            (quick, true, true, "two again"),
        ]
        var policy = LookupBurst.Policy()
        for step in steps {
            if let gap = step.gap { policy.requestArrived(gap: gap) }
            let held = policy.operationStarts(lookup: step.lookup)
            #expect(held == step.held, "\(step.why)")
        }
        policy.silence()
        policy.requestArrived(gap: 0.5)
        let held = policy.operationStarts(lookup: true)
        #expect(!held, "silence ends it")
    }

    @Test(.tags(.small)) func onlyDatabaseAnswersAreLookups() {
        #expect(Opcode.queryPathInfo.isLookup && Opcode.isValidPath.isLookup && Opcode.setOptions.isLookup)
        for op in [Opcode.addToStore, .addToStoreNar, .buildPaths, .buildDerivation, .narFromPath, .exportPath, .importPaths,
                   .collectGarbage, .verifyStore, .optimiseStore, .querySubstitutablePathInfos, .queryMissing, .syncWithGC, .findRoots] {
            #expect(!op.isLookup, "\(op)")
        }
    }

    /// The device is root's; elsewhere sessions poll instead (ReplyPollingTests).
    static var canRequestLatency: Bool { (try? CPULatencyRequest()) != nil }

    @Test(.enabled(if: canRequestLatency)) func streamHoldsTheLimitAndLiftsIt() throws {
        let peer = try ReplyPollingTests.Peer()
        // Wide margins: the test must hold on a loaded machine, where a thread's "at once" can
        // take milliseconds.
        let burst = LookupBurst(request: try CPULatencyRequest(), silence: 2, backToBack: 1)
        let stream = SocketStream(peer.ours, polling: ReplyPolling(budget: 0.0002), burst: burst)
        #expect(stream.polling == nil, "a burst replaces polling")
        func round(_ op: Opcode, answerAfter delay: Double = 0) throws {
            _ = peer.answer(after: delay)
            var byte: [UInt8] = [7]
            try byte.withUnsafeBytes { try stream.write($0) }
            #expect(try byte.withUnsafeMutableBytes { try stream.read(into: $0) } == 1)
            stream.operationStarts(op)
        }
        try round(.queryPathInfo)
        try round(.queryPathInfo)
        #expect(burst.request.isLimited && burst.holds == 1)
        #expect(CPULatencyRequest.effectiveLimit() == 0, "idle CPUs poll while the burst lasts")
        try round(.queryPathInfo)
        try round(.addToStoreNar)
        #expect(!burst.request.isLimited && burst.liftedForOperation == 1)
        try round(.queryPathInfo)
        try round(.queryPathInfo)
        #expect(burst.request.isLimited && burst.holds == 2)
        // The client thinks for longer than the silence: the receive gives up, lifts, and waits on.
        let start = Date()
        try round(.queryPathInfo, answerAfter: 3)
        #expect(Date().timeIntervalSince(start) >= 2.9)
        #expect(burst.liftedOnSilence == 1)
        #expect(!burst.request.isLimited, "one lookup after silence is not a burst")
    }
}

/// The same through a daemon process and its worker, as a client sees it.
@Suite(.serialized, .tags(.large)) struct LookupBurstSessionTests {
    @Test(.enabled(if: LookupBurstTests.canRequestLatency)) func aQueryingSessionHoldsAndLifts() throws {
        let scratch = try TemporaryDaemon(label: "burst", extraEnvironment: ["CLOISTER_SESSION_LOG": "1"], keepLog: true)
        let store = try StoreDirectory(scratch.root + "/store")
        let fd = try SocketFD(connectingTo: scratch.socket)
        let client = try WorkerClient(stream: fd, storeDirectory: store, options: .nixDefault())
        let path = try client.addTextToStore(name: "burst", text: Array("lookups".utf8))
        for _ in 0..<50 { #expect(try client.queryPathInfo(path)?.path == path) }
        _ = try client.addTextToStore(name: "burst-2", text: Array("lookups 2".utf8))
        for _ in 0..<50 { #expect(try client.queryPathInfo(path)?.path == path) }
        usleep(100_000)  // silence
        shutdown(fd.fd, Int32(SHUT_RDWR))  // the session ends
        var line = ""
        for _ in 0..<250 {
            line = scratch.log().split(separator: "\n").first { $0.hasPrefix("session: ") }.map(String.init) ?? ""
            if !line.isEmpty { break }
            usleep(20_000)
        }
        // "session: …; lookup bursts: H held, S ended by silence, O by another operation"
        let bursts = try #require(line.split(separator: ";").first { $0.contains("lookup bursts:") }, "\(line)")
        let numbers = bursts.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        try #require(numbers.count == 3, "\(line)")
        let (held, silence, other) = (numbers[0], numbers[1], numbers[2])
        // On a quiet machine: held twice, lifted once for the add and once on silence. A loaded
        // one may stretch a gap past "back to back" (fewer holds) or past the silence (more
        // lifts on silence); either way there was a burst and every hold was lifted.
        #expect(held >= 1, "\(line)")
        #expect(held == silence + other, "every hold was lifted: \(line)")
    }
}
