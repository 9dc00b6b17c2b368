import Testing
import Foundation
import StoreFormats
@testable import WorkerProtocol

/// Replays the client side of every Nix 2.8 transcript, in order, against one ServerSession
/// over an in-memory store at /nix/store (state carries over between sessions, as it did on
/// the capture machine), and compares what Cloister answers with what nix-daemon answered.
///
/// Masked (run-specific) values, and nothing else: the daemon's version word in the handshake
/// (0x164 announced vs 0x122) and its version text ("2.8.0"), and `registrationTime` in path
/// infos (a wall-clock time). Exchanges are compared decoded; the codec is proven byte-exact
/// by TranscriptTests, so equal decodings are equal bytes.
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

    static func normalise(_ reply: WorkerReply?) -> WorkerReply? {
        switch reply {
        case .pathInfo(var info?)?: info.registrationTime = 0; return .pathInfo(info)
        case .addedPathInfo(var info)?: info.registrationTime = 0; return .addedPathInfo(info)
        default: return reply
        }
    }

    /// First difference between Nix's exchanges and ours, or nil.
    static func difference(_ theirs: TranscriptParser, _ ours: TranscriptParser) -> String? {
        guard theirs.exchanges.count == ours.exchanges.count else {
            return "\(ours.exchanges.count) exchanges instead of \(theirs.exchanges.count)"
        }
        for (i, (t, o)) in zip(theirs.exchanges, ours.exchanges).enumerated() {
            let name = t.request.map { "\($0.opcode)" } ?? "undecodable request"
            func messages(_ m: [StderrMessage]) -> [StderrMessage] {
                // Error texts differ in wording and colour codes; compare that an error happened.
                m.map { if case .error = $0 { return .error(ErrorReport(message: "")) } else { return $0 } }
            }
            if messages(t.messages) != messages(o.messages) { return "#\(i) \(name): stderr \(o.messages) vs \(t.messages)" }
            if normalise(t.reply) != normalise(o.reply) { return "#\(i) \(name): reply \(String(describing: o.reply)) vs \(String(describing: t.reply))" }
        }
        if theirs.trailingErrors != ours.trailingErrors { return "trailing errors \(ours.trailingErrors) vs \(theirs.trailingErrors)" }
        return nil
    }

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
            // Unmask the handshake: our version word and text replaced by the capture's.
            var server = stream.output
            let ourPrefix = 16 + 8 + 16   // magic, version, string "cloister 0.1" (12 bytes padded to 16)
            let theirPrefix = 16 + (theirs.versionText.map { 8 + ($0.utf8.count + 7) / 8 * 8 } ?? 0)
            if theirs.versionText != nil, server.count >= ourPrefix {
                server = Array(theirs.serverBytes[0..<theirPrefix]) + server[ourPrefix...]
            } else if server.count >= 16 {
                server = Array(theirs.serverBytes[0..<16]) + server[16...]
            }
            var ours = TranscriptParser(client: theirs.clientBytes, server: server)
            do { try ours.parse() } catch { report[name] = "our reply does not parse: \(error)"; continue }
            if let diff = Self.difference(theirs, ours) { report[name] = diff }
        }
        for name in Self.mustMatch { #expect(report[name] == nil, "\(name): \(report[name] ?? "")") }
        let matched = Vectors.transcriptNames.filter { report[$0] == nil }
        print("replay: \(matched.count)/\(Vectors.transcriptNames.count) transcripts identical after masking")
        for (name, diff) in report.sorted(by: { $0.key < $1.key }) { print("replay: \(name): \(diff.prefix(300))") }
    }
}
