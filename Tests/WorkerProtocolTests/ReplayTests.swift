import Testing
import Foundation
import StoreFormats
@testable import WorkerProtocol

/// Replays the client side of every Nix 2.8 transcript, in order, against one ServerSession
/// over an in-memory store at /nix/store (state carries over between sessions, as it did on
/// the capture machine), and compares what Cloister answers with what nix-daemon answered.
///
/// Masked: see `ReplayMask`. Exchanges are compared decoded; the codec is proven byte-exact
/// by TranscriptTests, so equal decodings are equal bytes. `DaemonReplayTests` replays the
/// same sessions against the real daemon process.
@Suite(.tags(.small), .serialized) struct ReplayTests {
    /// Transcripts whose every reply must match. The others involve builds, GC, roots,
    /// verification activities or substituters, which an in-memory store does not model;
    /// `replayReport` lists them with the first difference.
    static let mustMatch: Set<String> = [
        "001-add.json", "002-add-tree.json", "003-add-fixed-flat.json", "004-add-fixed-sha1-rec.json",
        "005-instantiate-foo.json", "006-instantiate-chain.json", "007-instantiate-built.json",
        "012-q-references.json", "014-q-hash.json", "015-q-invalid.json", "019-check-validity.json",
        "020-export.json", "022-import.json", "013-q-referrers.json", "017-q-outputs.json", "023-eval-tofile.json", "024-eval-path-flat.json", "035-add-again.json",
        "040-pyclient-1.24-old-addtostore.json", "041-pyclient-1.16-old-error.json",
    ]

    @Test func replayAllTranscripts() throws {
        let service = MemoryStoreService(storeDirectory: .nix)
        var report: [String: String] = [:]
        for name in Vectors.transcriptNames {
            let json = try #require(try Vectors.json("worker-protocol/nix-2.8-transcripts/" + name) as? [String: Any])
            var theirs = TranscriptParser(chunks: try #require(json["chunks"] as? [[String]]))
            try theirs.parse()
            let stream = MemoryStream(input: theirs.clientBytes)
            let session = ServerSession(stream: stream, service: service, client: ClientIdentity(trusted: true), storeDirectory: .nix)
            _ = session.run()
            let server = ReplayMask.unmaskHandshake(ours: stream.output, theirs: theirs)
            var ours = TranscriptParser(client: theirs.clientBytes, server: server)
            do { try ours.parse() } catch { report[name] = "our reply does not parse: \(error)"; continue }
            if let diff = ReplayMask.difference(theirs, ours) { report[name] = diff }
        }
        for name in Self.mustMatch { #expect(report[name] == nil, "\(name): \(report[name] ?? "")") }
        let matched = Vectors.transcriptNames.filter { report[$0] == nil }
        print("replay: \(matched.count)/\(Vectors.transcriptNames.count) transcripts identical after masking")
        for (name, diff) in report.sorted(by: { $0.key < $1.key }) { print("replay: \(name): \(diff.prefix(300))") }
    }
}
