import Testing
import Foundation
@testable import WorkerProtocol

/// Every captured Nix 2.8 session parses completely in both directions (formats.md §6.9).
@Suite(.tags(.small)) struct TranscriptTests {
    @Test func allTranscriptsPresent() {
        #expect(Vectors.transcriptNames.count == 42)
    }

    @Test(arguments: Vectors.transcriptNames)
    func parsesBothDirections(name: String) throws {
        let json = try #require(try Vectors.json("worker-protocol/nix-2.8-transcripts/" + name) as? [String: Any])
        let chunks = try #require(json["chunks"] as? [[String]])
        let decoded = try #require(json["decoded"] as? [[Any]])
        var parser = TranscriptParser(chunks: chunks)
        try parser.parse()
        #expect(parser.mismatches.isEmpty, "\(parser.mismatches)")
        #expect(parser.clientLeftover == 0)
        #expect(parser.serverLeftover == 0)
        // The op sequence matches the capture's own decoding (minus HANDSHAKE/TRAILING).
        let expectedOps = decoded.compactMap { $0.first as? String }.filter { $0 != "HANDSHAKE" && $0 != "TRAILING" }
        let ops = parser.exchanges.map { e in e.request.map { "\($0.opcode)" } ?? "undecodable" }
        #expect(ops.count == expectedOps.count, "\(ops) vs \(expectedOps)")
        for (ours, theirs) in zip(ops, expectedOps) where ours != "undecodable" {
            #expect(ours.lowercased() == theirs.lowercased(), "op \(ours) vs \(theirs)")
        }
        if decoded.contains(where: { ($0.first as? String) == "TRAILING" }) {
            // A request the daemon could not read: Nix 2.8 sends its error twice, then closes.
            #expect(parser.exchanges.last?.decodeError != nil)
            #expect(parser.trailingErrors.count == 2)
        }
    }
}
