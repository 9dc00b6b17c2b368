import Testing
@testable import StoreFormats

/// nixbase32.json: every encode pair both ways, every invalid string rejected, the lengths table,
/// and encode→decode on random bytes of every length 0…100.
@Suite(.tags(.small))
struct NixBase32Tests {
    @Test func encodesAndDecodesEveryVector() throws {
        let vectors = try Vectors.json("nixbase32.json")
        #expect(String(decoding: NixBase32.alphabet, as: UTF8.self) == (try vectors.string("alphabet")))
        let cases = try vectors.objects("encode")
        #expect(cases.count >= 9)
        for c in cases {
            let bytes = Vectors.hex(try c.string("hex"))
            let text = try c.string("nix32")
            let note = try c.string("note")
            #expect(NixBase32.encode(bytes) == text, "encode \(note)")
            #expect(try NixBase32.decode(text) == bytes, "decode \(note)")
            #expect(try NixBase32.decode(text, byteCount: bytes.count) == bytes)
        }
    }

    @Test func rejectsEveryInvalidVector() throws {
        let cases = try Vectors.json("nixbase32.json").objects("invalid_decode")
        #expect(cases.count >= 5)
        for c in cases {
            let text = try c.string("nix32")
            let why = try c.string("why")
            #expect(throws: FormatError.self, "\(text): \(why)") { try NixBase32.decode(text) }
        }
    }

    @Test func rejectsWithReasons() {
        #expect(throws: FormatError.invalidBase32("zz", reason: "bits set beyond the last byte")) {
            try NixBase32.decode("zz")
        }
        #expect(throws: FormatError.invalidBase32("0e", reason: "character 'e' is not in the nix32 alphabet")) {
            try NixBase32.decode("0e")
        }
        #expect(throws: FormatError.self) { try NixBase32.decode("00", byteCount: 2) }
        // Non-ASCII input is a foreign character, never a trap.
        #expect(throws: FormatError.self) { try NixBase32.decode("é0") }
    }

    @Test func lengthsTable() throws {
        let lengths = try Vectors.json("nixbase32.json").object("lengths")
        #expect(lengths.count == 4)
        for (key, value) in lengths {
            let bytes = try #require(Int(key.prefix { $0 != " " }))
            #expect(NixBase32.encodedLength(bytes) == value as? Int, "\(key)")
        }
        #expect(NixBase32.encodedLength(0) == 0)
    }

    @Test func roundTripsRandomBytesOfEveryLength() throws {
        var rng = SplitMix64(seed: 0x5eed_0032)
        for length in 0...100 {
            for _ in 0..<20 {
                let bytes = (0..<length).map { _ in UInt8.random(in: .min ... .max, using: &rng) }
                let text = NixBase32.encode(bytes)
                #expect(text.utf8.count == NixBase32.encodedLength(length))
                #expect(text.utf8.allSatisfy { NixBase32.alphabet.contains($0) })
                #expect(try NixBase32.decode(text) == bytes, "length \(length)")
                #expect(try NixBase32.decode(text, byteCount: length) == bytes)
                #expect(NixBase32.encodes(bytes, as: text))
                if length > 0 {
                    // Any one byte changed (or the text cut short) no longer matches.
                    var other = bytes
                    other[Int.random(in: 0..<length, using: &rng)] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
                    #expect(!NixBase32.encodes(other, as: text))
                    #expect(!NixBase32.encodes(bytes, as: String(text.dropLast())))
                }
            }
        }
    }

    /// Each string of a valid length decodes to at most one byte string, and that re-encodes to it
    /// (no two spellings of one value).
    @Test func decodeIsInjective() throws {
        var rng = SplitMix64(seed: 7)
        for length in 1...40 {
            for _ in 0..<20 {
                let text = String(decoding: (0..<NixBase32.encodedLength(length)).map { _ in
                    NixBase32.alphabet[Int.random(in: 0..<32, using: &rng)]
                }, as: UTF8.self)
                if let bytes = try? NixBase32.decode(text) {
                    #expect(NixBase32.encode(bytes) == text)
                }
            }
        }
    }
}
