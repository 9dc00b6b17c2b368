import Foundation
import StoreFormats
import Testing

/// The BuildDerivation wire form (formats.md §6.6) against the bytes a Nix 2.8 client session
/// sent, plus round trips and rejections.
@Suite(.tags(.small))
struct DerivationWireTests {
    /// The client's BuildDerivation request from transcript 042: u64 op 36, string drvPath,
    /// the derivation, u64 build mode.
    static func transcriptRequest() throws -> [UInt8] {
        let data = try Data(contentsOf: URL(fileURLWithPath: DerivationFixtures.vectors + "/worker-protocol/nix-2.8-transcripts/042-pyclient-1.34-build-derivation.json"))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let chunks = try #require(object["chunks"] as? [[String]])
        let hex = try #require(chunks.first { $0[0] == "C" && $0[1].hasPrefix("2400000000000000") }?[1])
        return try #require(Base16.decode(hex))
    }

    @Test func decodesWhatNix28Sent() throws {
        let request = try Self.transcriptRequest()
        let body = Array(request[(8 + 8 + 56)..<(request.count - 8)])
        let decoded = try Derivation(wire: body, store: .nix)
        let file = try Derivation(aterm: try DerivationFixtures.bytes("drv/axbdpblvvpgmyjid3vnvdgj7al3gnlx0-bd.drv"), store: .nix)
        #expect(decoded == file)
        #expect(file.wireEncoding(in: .nix) == body)
        // Read in place inside the request, leaving the build mode behind.
        try request.withUnsafeBytes { buffer in
            var offset = 8 + 8 + 56
            let inPlace = try Derivation(wire: buffer, offset: &offset, store: .nix)
            #expect(inPlace == file)
            #expect(offset == request.count - 8)
        }
    }

    @Test func roundTripsRandomDerivations() throws {
        var rng = DerivationPropertyTests.SeededGenerator(state: 99)
        for _ in 0..<200 {
            var derivation = try DerivationPropertyTests.randomDerivation(&rng)
            derivation.inputDerivations = [:]
            let bytes = derivation.wireEncoding(in: .guix)
            #expect(bytes.count % 8 == 0)
            #expect(try Derivation(wire: bytes, store: .guix) == derivation)
        }
    }

    @Test func rejectsTruncationPaddingAndHugeCounts() throws {
        let file = try Derivation(aterm: try DerivationFixtures.bytes("drv/a788msqgdv1k772az6ca879r86ahwyzn-source.drv"), store: .nix)
        let bytes = file.wireEncoding(in: .nix)
        for cut in stride(from: 0, to: bytes.count, by: 8) {
            #expect(throws: FormatError.self) { try Derivation(wire: Array(bytes[..<cut]), store: .nix) }
        }
        #expect(throws: FormatError.invalidDerivation(offset: bytes.count, reason: "trailing bytes after the derivation")) {
            try Derivation(wire: bytes + [0, 0, 0, 0, 0, 0, 0, 0], store: .nix)
        }
        // "out" is 3 bytes; its padding starts at offset 8 + 8 + 3.
        var padded = bytes
        padded[8 + 8 + 5] = 1
        #expect(throws: FormatError.invalidDerivation(offset: 8 + 8 + 5, reason: "non-zero padding")) {
            try Derivation(wire: padded, store: .nix)
        }
        var huge = bytes
        for i in 0..<8 { huge[i] = 0xFF }
        #expect(throws: FormatError.self) { try Derivation(wire: huge, store: .nix) }
        var long = bytes
        long.replaceSubrange(8..<16, with: [0xF8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F])
        #expect(throws: FormatError.self) { try Derivation(wire: long, store: .nix) }
    }
}
