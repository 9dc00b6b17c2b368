import Testing
import Foundation
import Glibc
import StoreFormats
import WorkerProtocol

/// A Nix client below protocol 1.20 cannot read activities, so Nix 2.8's daemon turns each
/// activity's text into a plain line `<text>...` when its level is within the verbosity the
/// client set (daemon.cc TunnelLogger::startActivity), and drops stops and results. Driven here
/// by a hand-rolled client announcing 1.19 against the daemon process, through OptimiseStore's
/// per-path activities (talkative); a 1.34 client gets the activities themselves.
@Suite(.serialized, .tags(.large)) final class OldNixClientTests {
    let scratch: TemporaryDaemon

    init() throws {
        scratch = try TemporaryDaemon(label: "oldnix")
    }

    /// Connects announcing `version` with `verbosity`, adds a file, runs OptimiseStore and
    /// returns the path and what came on the stderr channel.
    func optimise(version: UInt64, verbosity: UInt64) throws -> (StorePath, [StderrMessage]) {
        let fd = try SocketFD(connectingTo: scratch.socket)
        var options = ClientOptions.nixDefault()
        options.integers[3] = verbosity
        let client = try WorkerClient(stream: fd, version: ProtocolVersion(version), storeDirectory: try StoreDirectory(scratch.root + "/store"),
                                      options: options)
        let path = try client.addTextToStore(name: "old-client-\(version)-\(verbosity)", text: Array("text \(verbosity)\n".utf8))
        var messages: [StderrMessage] = []
        client.onLog = { messages.append($0) }
        try client.call(.optimiseStore)
        return (path, messages)
    }

    func lines(_ messages: [StderrMessage]) -> [String] {
        messages.compactMap { if case .next(let bytes) = $0 { String(decoding: bytes, as: UTF8.self) } else { nil } }
    }

    @Test func activityTextBecomesALineBelow120() throws {
        let store = try StoreDirectory(scratch.root + "/store")
        // Talkative (4) reaches the per-path activities' level.
        let (path, talkative) = try optimise(version: 0x113, verbosity: 4)
        let optimising = lines(talkative).filter { $0.hasPrefix("optimising path ") }
        #expect(optimising.contains("optimising path '\(path.absolute(in: store))'...\n"))
        #expect(optimising.allSatisfy { $0.hasSuffix("'...\n") })
        #expect(!talkative.contains { if case .next = $0 { false } else { true } })
        // Info (3) does not.
        let (_, quiet) = try optimise(version: 0x113, verbosity: 3)
        #expect(!lines(quiet).contains { $0.hasPrefix("optimising path ") })
        // 1.20 and later: the activity, never the line.
        let (newPath, current) = try optimise(version: 0x122, verbosity: 4)
        #expect(!lines(current).contains { $0.hasPrefix("optimising path ") })
        #expect(current.contains {
            if case .startActivity(_, 4, 0, let text, _, _) = $0 { text == "optimising path '\(newPath.absolute(in: store))'" } else { false }
        })
    }
}
