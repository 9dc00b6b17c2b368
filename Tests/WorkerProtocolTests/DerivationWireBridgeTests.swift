import Foundation
import StoreFormats
import Testing
import WorkerProtocol

/// The BuildDerivation record (formats.md §6.6) as a validated `Derivation`: the bytes a Nix
/// 2.8 client sent decode to the `.drv` they came from, and encoding gives those bytes back.
@Suite(.tags(.small))
struct DerivationWireBridgeTests {
    /// The client's BuildDerivation request of transcript 042: u64 op 36, string drvPath,
    /// the derivation, u64 build mode.
    static func request() throws -> [UInt8] {
        let object = try #require(try Vectors.json("worker-protocol/nix-2.8-transcripts/042-pyclient-1.34-build-derivation.json") as? [String: Any])
        let chunks = try #require(object["chunks"] as? [[String]])
        let hex = try #require(chunks.first { $0[0] == "C" && $0[1].hasPrefix("2400000000000000") }?[1])
        return Vectors.hex(hex)
    }

    static func encode(_ record: WireDerivation) throws -> [UInt8] {
        let sink = BufferSink()
        let writer = WireWriter(sink)
        try record.encode(to: writer, .nix)
        try writer.flush()
        return sink.bytes
    }

    @Test func decodesWhatNix28SentAndEncodesItBack() throws {
        let request = try Self.request()
        let body = Array(request[(8 + 8 + 56)..<(request.count - 8)])
        let reader = WireReader(MemoryStream(input: body))
        let decoded = try WireDerivation.decode(from: reader, .nix).derivation(.nix)
        #expect(try reader.atEnd())
        let file = try Derivation(aterm: try Vectors.data("drv/axbdpblvvpgmyjid3vnvdgj7al3gnlx0-bd.drv"), store: .nix)
        #expect(decoded == file)
        #expect(try Self.encode(WireDerivation(file, .nix)) == body)
    }

    /// Every vector derivation, less its input derivations, survives the wire record.
    @Test func vectorDerivationsRoundTrip() throws {
        let folder = Vectors.root + "/drv"
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".drv") }
        #expect(names.count >= 15)
        for name in names {
            var derivation = try Derivation(aterm: try Vectors.data("drv/\(name)"), store: .nix)
            derivation.inputDerivations = [:]
            let bytes = try Self.encode(WireDerivation(derivation, .nix))
            let back = try WireDerivation.decode(from: WireReader(MemoryStream(input: bytes)), .nix).derivation(.nix)
            #expect(back == derivation, "\(name)")
        }
    }

    @Test func invalidRecordsAreRefused() throws {
        let sha = "0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33"
        func record(_ outputs: [WireDerivation.Output], env: [([UInt8], [UInt8])] = []) -> WireDerivation {
            WireDerivation(outputs: outputs, inputSources: [], platform: "x86_64-linux", builder: Array("/bin/sh".utf8), arguments: [], environment: env)
        }
        let good = WireDerivation.Output(name: "out", path: "/nix/store/mp57d33657rf34lzvlbpfa1gjfv5gmpg-bar", hashAlgorithm: "r:sha1", hash: sha)
        #expect(try record([good]).derivation(.nix).isFixedOutput)
        let cases: [WireDerivation] = [
            record([]),
            record([good, WireDerivation.Output(name: "zzz", path: "/nix/store/mp57d33657rf34lzvlbpfa1gjfv5gmpg-bar-zzz")]),
            record([WireDerivation.Output(name: "out", path: good.path, hashAlgorithm: "r:sha256", hash: sha)]),
            record([WireDerivation.Output(name: "out", path: good.path, hashAlgorithm: "r:sha3", hash: sha)]),
            record([WireDerivation.Output(name: "out", path: "/gnu/store/mp57d33657rf34lzvlbpfa1gjfv5gmpg-bar")]),
            record([WireDerivation.Output(name: "o/ut", path: good.path)]),
            record([WireDerivation.Output(name: "out", path: good.path)], env: [(Array("a".utf8), []), (Array("a".utf8), [])]),
        ]
        for bad in cases {
            #expect(throws: WorkerProtocolError.self) { try bad.derivation(.nix) }
        }
    }
}
