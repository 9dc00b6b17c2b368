import Testing
@testable import StoreFormats

/// Hash text forms (formats.md §1.1): base16 (either case in, lowercase out), nix32, base64, SRI,
/// `algo:hash`, and the `r:algo` / content-address forms; digests of the RFC inputs via libgcrypt.
@Suite(.tags(.small))
struct HashTests {
    /// The RFC "abc" digests of nixbase32.json, one per algorithm.
    static let abc: [(HashAlgorithm, String, String)] = [
        (.md5, "900150983cd24fb0d6963f7d28e17f72", "3jgzhjhz9zjvbb0kyj7jc500ch"),
        (.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s"),
        (.sha512, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
         "2gs8k559z4rlahfx0y688s49m2vvszylcikrfinm30ly9rak69236nkam5ydvly1ai7xac99vxfc4ii84hawjbk876blyk1jfhkbbyx"),
    ]

    /// Every byte in either digit position: only 0-9, a-f, A-F decode, to their value.
    @Test func base16DecodesExactlyTheHexDigits() {
        let digits = Array("0123456789abcdef".utf8)
        for c in UInt8.min...UInt8.max {
            let value = digits.firstIndex(of: c) ?? digits.firstIndex(of: c | 0x20).flatMap { c >= UInt8(ascii: "A") && c <= UInt8(ascii: "F") ? $0 : nil }
            let high = Base16.decode(String(decoding: [c, UInt8(ascii: "0")], as: UTF8.self))
            let low = Base16.decode(String(decoding: [UInt8(ascii: "1"), c], as: UTF8.self))
            #expect(high == value.map { [UInt8($0) << 4] }, "byte \(c) high")
            #expect(low == value.map { [0x10 | UInt8($0)] }, "byte \(c) low")
        }
        #expect(Base16.decode("abc") == nil)
        #expect(Base16.decode("") == [])
    }

    @Test func digestsOfAbcMatchTheVectors() throws {
        for (algorithm, hex, nix32) in Self.abc {
            let hash = Hasher.hash(algorithm, "abc")
            #expect(hash.base16 == hex)
            #expect(hash.nix32 == nix32)
        }
        #expect(Hasher.hash(.sha1, "foo").nix32 == "6f5dlxf2bcy7zm0dbp4xn3rzxaswgvhb")
    }

    @Test func parsesEveryTextFormOfEveryVectorHash() throws {
        for c in try Vectors.json("nixbase32.json").objects("encode") {
            let bytes = Vectors.hex(try c.string("hex"))
            guard let algorithm = HashAlgorithm.allCases.first(where: { $0.size == bytes.count }) else { continue }
            let hash = try Hash(algorithm: algorithm, bytes: bytes)
            let hex = try c.string("hex")
            #expect(hash.nix32 == (try c.string("nix32")))
            for form in [hex, hex.uppercased(), hash.nix32, hash.base64] {
                #expect(try Hash(parsing: form, algorithm: algorithm) == hash, "\(form)")
                #expect(try Hash(parsing: "\(algorithm.rawValue):\(form)") == hash, "\(algorithm):\(form)")
                #expect(try Hash(parsing: form, defaultAlgorithm: algorithm) == hash)
            }
            #expect(try Hash(parsing: hash.sri) == hash)
            #expect(hash.prefixedNix32 == "\(algorithm.rawValue):\(hash.nix32)")
            #expect(hash.prefixedBase16 == "\(algorithm.rawValue):\(hex)")
        }
    }

    @Test func rendersEveryForm() throws {
        let hash = Hasher.hash(.sha256, "abc")
        #expect(hash.base16 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hash.base64 == "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=")
        #expect(hash.sri == "sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=")
        #expect(hash.description == "sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s")
    }

    @Test func rejectsBadHashes() {
        let good = "1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s"
        let bad: [String] = [
            "sha256:" + good.dropLast(),                 // length fits no encoding
            "sha256:" + good.dropLast() + "e",            // 'e' not nix32
            "sha256:" + String(repeating: "g", count: 64), // not base16
            "sha256:" + String(repeating: "*", count: 44), // not base64
            "sha256-" + String(repeating: "A", count: 43), // SRI of the wrong length
            "sha384:" + good,                             // unknown algorithm
            "md5:" + good,                                // sha256-sized digest for md5
            good,                                         // no algorithm and no default
            "",
            "sha256:",
        ]
        for text in bad {
            #expect(throws: FormatError.self, "\(text)") { try Hash(parsing: text) }
        }
        #expect(throws: FormatError.unknownHashAlgorithm("sha384")) { try Hash(parsing: "sha384:" + good) }
        #expect(throws: FormatError.self) { try Hash(algorithm: .sha256, bytes: [1, 2, 3]) }
        // Non-canonical base64 (stray low bits) would give one digest two spellings.
        #expect(throws: FormatError.self) { try Hash(parsing: "AAAAAAAAAAAAAAAAAAAAAB==", algorithm: .md5) }
    }

    @Test func parsesMethodAndAlgorithm() throws {
        #expect(try IngestionMethod.parse(methodAndAlgorithm: "r:sha256") == (.recursive, .sha256))
        #expect(try IngestionMethod.parse(methodAndAlgorithm: "sha1") == (.flat, .sha1))
        #expect(try IngestionMethod.parse(methodAndAlgorithm: "r:md5") == (.recursive, .md5))
        for bad in ["", "r:", "r:sha384", "R:sha256", "rsha256", "text:sha256", "r:r:sha256"] {
            #expect(throws: FormatError.self, "\(bad)") { try IngestionMethod.parse(methodAndAlgorithm: bad) }
        }
        for method in [IngestionMethod.flat, .recursive] {
            for algorithm in HashAlgorithm.allCases {
                let text = IngestionMethod.render(method, algorithm)
                #expect(try IngestionMethod.parse(methodAndAlgorithm: text) == (method, algorithm))
            }
        }
    }

    @Test func parsesContentAddresses() throws {
        let nar = "0sg9f58l1jj88w6pdrfdpj5x9b1zrwszk84j81zvby36q9whhhqa"
        let ca = try ContentAddress(parsing: "fixed:r:sha256:\(nar)")
        #expect(ca == .fixed(.recursive, try Hash(parsing: nar, algorithm: .sha256)))
        #expect(ca.description == "fixed:r:sha256:\(nar)")
        // Any accepted spelling in, nix32 out.
        let hex = "0a430879c266f8b57f4092a0f935cf3facd48bbccde5760d4748ca405171e969"
        #expect(try ContentAddress(parsing: "fixed:r:sha256:\(hex)") == ca)
        #expect(try ContentAddress(parsing: "fixed:sha1:1r8p363v9jcwinh1klkc05xyvp5mjggz").description == "fixed:sha1:1r8p363v9jcwinh1klkc05xyvp5mjggz")
        #expect(try ContentAddress(parsing: "text:sha256:\(nar)") == .text(try Hash(parsing: nar, algorithm: .sha256)))
        for bad in ["", "fixed:", "fixed:r:", "fixed:sha256", "text:sha1:1r8p363v9jcwinh1klkc05xyvp5mjggz",
                    "source:sha256:\(nar)", "fixed:r:sha256:\(nar)x", "fixed:r:sha256:"] {
            #expect(throws: FormatError.self, "\(bad)") { try ContentAddress(parsing: bad) }
        }
    }
}
