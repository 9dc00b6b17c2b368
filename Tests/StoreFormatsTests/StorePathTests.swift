import Testing
@testable import StoreFormats

/// store-paths.json: every computed path (text, source, fixed), its fingerprint and compressed
/// digest, name validity under Nix 2.8 and Guix rules, and store-path parsing.
@Suite(.tags(.small))
struct StorePathTests {
    static func file() throws -> [String: Any] { try Vectors.json("store-paths.json") }

    @Test func computesEveryVectorPath() throws {
        let vectors = try Self.file()
        let store = try StoreDirectory(try vectors.string("store_dir"))
        let cases = try vectors.objects("cases")
        #expect(cases.count >= 16)
        for c in cases {
            let name = try c.string("name")
            let expected = try c.string("expected")
            let references = try (c["references"] as? [String] ?? []).map { try StorePath(parsing: $0, in: store) }
            let path: StorePath
            var innerType = ""
            var innerHash: Hash
            switch try c.string("kind") {
            case "text":
                let contents = Array(try c.string("content").utf8)
                path = try store.makeTextPath(name: name, contents: contents, references: references)
                innerHash = Hasher.hash(.sha256, contents)
                innerType = references.map { $0.absolute(in: store) }.reduce("text") { $0 + ":" + $1 }
            case "source":
                innerHash = try Hash(parsing: try c.string("nar_sha256"), algorithm: .sha256)
                path = try store.makeFixedOutputPath(method: .recursive, hash: innerHash, name: name, references: references)
                #expect(store.isFixedOutputPath(path, method: .recursive, hash: innerHash, references: references), "\(name)")
                #expect(!store.isFixedOutputPath(path, method: .recursive, hash: innerHash, references: references, hasSelfReference: true))
                #expect(!store.isFixedOutputPath(path, method: .flat, hash: innerHash, references: []))
                innerType = references.map { $0.absolute(in: store) }.reduce("source") { $0 + ":" + $1 }
            case "fixed":
                let algorithm = try HashAlgorithm(parsing: try c.string("algo"))
                let recursive = try #require(c["recursive"] as? Bool)
                let hash = try Hash(algorithm: algorithm, bytes: Vectors.hex(try c.string("hash_hex")))
                path = try store.makeFixedOutputPath(method: recursive ? .recursive : .flat, hash: hash, name: name)
                #expect(store.isFixedOutputPath(path, method: recursive ? .recursive : .flat, hash: hash), "\(name)")
                #expect(!store.isFixedOutputPath(path, method: recursive ? .flat : .recursive, hash: hash))
                if let preimage = c["fixed_preimage"] as? String {
                    #expect(preimage == "fixed:out:\(recursive ? "r:" : "")\(algorithm.rawValue):\(hash.base16):")
                    innerHash = Hasher.hash(.sha256, preimage)
                    innerType = "output:out"
                } else {
                    innerHash = hash
                    innerType = "source"
                }
            default:
                Issue.record("unknown kind in \(name)")
                continue
            }
            #expect(path.absolute(in: store) == expected, "\(name)")
            let fingerprint = store.fingerprint(type: innerType, innerHash: innerHash, name: name)
            #expect(fingerprint == (try c.string("fingerprint")), "\(name)")
            let folded = StoreDirectory.compress(Hasher.hash(.sha256, fingerprint).bytes, to: 20)
            #expect(Base16.encode(folded) == (try c.string("compressed_digest_hex")), "\(name)")
            #expect(path.digest == folded)
            if let ca = c["ca"] as? String {
                let address = try ContentAddress(parsing: ca)
                #expect(address.description == ca)
                #expect(try address.storePath(name: name, references: references, in: store) == path, "\(name) via CA")
            }
        }
    }

    @Test func textPathOfItsOwnContents() throws {
        // A text object whose contents are the path it references (formats.md §2.3).
        let foo = try StorePath(parsing: "/nix/store/vxjiwkjkn7x4079qvh1jkl5pn05j2aw0-foo", in: .nix)
        let baz = try StoreDirectory.nix.makeTextPath(name: "baz", contents: Array(foo.absolute(in: .nix).utf8), references: [foo])
        #expect(baz.baseName == "5xd714cbfnkz02h2vbsj4fm03x3f15nf-baz")
        // The same inputs give another path under /gnu/store: the store directory enters the hash.
        let guix = try StoreDirectory.guix.makeTextPath(name: "foo", contents: Array("bar".utf8), references: [])
        #expect(guix.baseName != "vxjiwkjkn7x4079qvh1jkl5pn05j2aw0-foo")
    }

    @Test func referencesAreSortedAndOnlyForRecursiveSHA256() throws {
        let a = try StorePath(baseName: "00bgd045z0d4icpbc2yyz4gx48ak44la-a")
        let b = try StorePath(baseName: "vxjiwkjkn7x4079qvh1jkl5pn05j2aw0-b")
        let hash = Hasher.hash(.sha256, "x")
        let ab = try StoreDirectory.nix.makeFixedOutputPath(method: .recursive, hash: hash, name: "n", references: [a, b])
        let ba = try StoreDirectory.nix.makeFixedOutputPath(method: .recursive, hash: hash, name: "n", references: [b, a])
        #expect(ab == ba)
        let selfRef = try StoreDirectory.nix.makeFixedOutputPath(method: .recursive, hash: hash, name: "n", references: [a, b], hasSelfReference: true)
        #expect(selfRef != ab)
        #expect(throws: FormatError.self) {
            try StoreDirectory.nix.makeFixedOutputPath(method: .flat, hash: hash, name: "n", references: [a])
        }
        #expect(throws: FormatError.self) {
            try StoreDirectory.nix.makeFixedOutputPath(method: .recursive, hash: Hasher.hash(.sha1, "x"), name: "n", hasSelfReference: true)
        }
        // A non-SHA-256 text hash is an error, not a trap.
        #expect(throws: FormatError.self) {
            try StoreDirectory.nix.makeTextPath(name: "n", contentHash: Hasher.hash(.md5, "x"), references: [])
        }
    }

    @Test func outputPathNames() throws {
        let h = Hasher.hash(.sha256, "modulo")
        let out = try StoreDirectory.nix.makeOutputPath(outputName: "out", hashModulo: h, derivationName: "hello")
        let dev = try StoreDirectory.nix.makeOutputPath(outputName: "dev", hashModulo: h, derivationName: "hello")
        #expect(out.name == "hello")
        #expect(dev.name == "hello-dev")
        #expect(out.hashPart != dev.hashPart)
    }

    @Test func nameValidityUnderNix28AndGuixRules() throws {
        let v = try Self.file().object("name_validity")
        func valid(_ name: String, _ rules: StorePathName.Rules) -> Bool {
            (try? StorePathName.validate(name, rules: rules)) != nil
        }
        let groups: [(String, nix: Bool, guix: Bool)] = [
            ("valid_everywhere", true, true),
            ("valid_nix_invalid_guix", true, false),
            ("invalid_everywhere", false, false),
            ("too_long_for_nix_ok_for_guix", false, true),
            ("invalid_modern_nix_only_guix_also_invalid", true, false),
        ]
        for (key, nix, guix) in groups {
            let names = try v.strings(key)
            #expect(!names.isEmpty)
            for name in names {
                #expect(valid(name, .nix) == nix, "\(key): nix \(name)")
                #expect(valid(name, .guix) == guix, "\(key): guix \(name)")
            }
        }
        // Limits at their edges.
        #expect(valid(String(repeating: "a", count: 211), .nix))
        #expect(!valid(String(repeating: "a", count: 212), .nix))
        #expect(valid(String(repeating: "a", count: 222), .guix))
        #expect(!valid(String(repeating: "a", count: 223), .guix))
        for byte in UInt8(0)...UInt8(255) {
            let name = "a" + String(decoding: [byte], as: UTF8.self)
            #expect(valid(name, .nix) == StorePathName.isValidCharacter(byte), "byte \(byte)")
        }
    }

    @Test func parsesTheVectorPaths() throws {
        let v = try Self.file().object("store_path_parsing")
        for text in try v.strings("valid") {
            let path = try StorePath(parsing: text, in: .nix)
            #expect(path.absolute(in: .nix) == text)
            #expect(Base16.encode(path.digest) == (try v.string("valid_digest_hex")))
            #expect(path.name == "net-tools-1.60_p20170221182432")
            #expect(path.hashPart == "00bgd045z0d4icpbc2yyz4gx48ak44la")
            #expect(try StorePath(baseName: path.baseName) == path)
            #expect(try StorePath(digest: path.digest, name: path.name) == path)
            // Wrong store directory, a sub-path, a trailing slash: not a store path.
            #expect(throws: FormatError.self) { try StorePath(parsing: text, in: .guix) }
            #expect(throws: FormatError.self) { try StorePath(parsing: text + "/bin", in: .nix) }
            #expect(throws: FormatError.self) { try StorePath(parsing: text + "/", in: .nix) }
            #expect(try StoreDirectory.nix.storePath(containing: text + "/bin/sh") == path)
        }
        let invalid = try #require(v["invalid_basenames"] as? [String: String])
        #expect(invalid.count == 4)
        for (baseName, why) in invalid {
            #expect(throws: FormatError.self, "\(why)") { try StorePath(baseName: baseName) }
            #expect(throws: FormatError.self, "\(why)") { try StorePath(parsing: "/nix/store/" + baseName, in: .nix) }
        }
    }

    @Test func rejectsOtherBadPaths() throws {
        let hash = "00bgd045z0d4icpbc2yyz4gx48ak44la"
        for bad in [
            "",
            hash + "-",                        // empty name
            hash + "-a/b",
            hash + "-a b",
            hash + "-\u{e9}",
            String(hash.dropLast()) + "\u{e9}-x",
            hash.uppercased() + "-x",
        ] {
            #expect(throws: FormatError.self, "\(bad)") { try StorePath(baseName: bad) }
        }
        #expect(throws: FormatError.self) { try StorePath(baseName: hash + "-.x", rules: .guix) }
        #expect(try StorePath(baseName: hash + "-.x", rules: .nix).name == ".x")
        #expect(throws: FormatError.self) { try StorePath(digest: [1, 2], name: "x") }
        // A combining mark after the store directory's slash: another byte string, not a path.
        #expect(throws: FormatError.self) { try StorePath(parsing: "/nix/store/\u{301}" + hash + "-x", in: .nix) }
        #expect(throws: FormatError.self) { try StoreDirectory.nix.storePath(containing: "/nix/store/" + hash + "-x\u{301}/bin") }
        #expect(try StoreDirectory.nix.storePath(containing: "/nix/store/" + hash + "-x/\u{301}").name == "x")
        #expect(throws: FormatError.self) { try StoreDirectory("relative") }
        #expect(throws: FormatError.self) { try StoreDirectory("/") }
        #expect(try StoreDirectory("/gnu/store//").path == "/gnu/store")
    }

    /// Each fault as data, and the words a Nix 2.8 client reads for it (path.cc, arguments in
    /// hintfmt's magenta); faults Nix's parser lacks keep our description.
    @Test func faultsAndNixsWordsForThem() throws {
        let hash = "00bgd045z0d4icpbc2yyz4gx48ak44la"
        let (m, n) = ("\u{1b}[35;1m", "\u{1b}[0m")
        let cases: [(String, StorePathFault, String?)] = [
            ("notvalid", .tooShort, "'\(m)notvalid\(n)' is too short to be a valid store path"),
            (hash, .tooShort, "'\(m)\(hash)\(n)' is too short to be a valid store path"),
            (hash + "-", .name("", .empty), "store path '\(m)\(hash)-\(n)' has an empty name"),
            ("e" + hash.dropFirst() + "-x", .hashCharacter(UInt8(ascii: "e")),
             "store path '\(m)e\(hash.dropFirst())-x\(n)' contains illegal base-32 character '\(m)e\(n)'"),
            (hash + "-a b", .name("a b", .character(UInt8(ascii: " "))), "store path '\(m)\(hash)-a b\(n)' contains illegal character '\(m) \(n)'"),
            (hash + "-" + String(repeating: "x", count: 212), .name(String(repeating: "x", count: 212), .tooLong(212, limit: 211)),
             "store path '\(m)\(hash)-\(String(repeating: "x", count: 212))\(n)' has a name longer than 211 characters"),
            (hash + "_x", .noDash, nil),
        ]
        for (baseName, fault, nix) in cases {
            #expect(throws: FormatError.badStorePath(baseName, fault), "\(baseName)") { try StorePath(baseName: baseName) }
            let error = FormatError.badStorePath(baseName, fault)
            #expect(error.message(.nix) == nix ?? error.description)
            #expect(error.message(.guix) == error.description)
        }
        #expect(throws: FormatError.badStorePath(hash + "-.x", .name(".x", .leadingDot))) { try StorePath(baseName: hash + "-.x", rules: .guix) }
        // What a client prints off a terminal.
        #expect(MessageStyle.withoutColours(FormatError.badStorePath("notvalid", .tooShort).message(.nix))
                == "'notvalid' is too short to be a valid store path")
        #expect(MessageStyle.withoutColours("\u{1b}[31;1merror:\u{1b}[0m x\u{1b}[K \u{1b}") == "error: x ")
    }

    /// Property: any digest and valid name give a path that parses back to itself.
    @Test func randomPathsRoundTrip() throws {
        var rng = SplitMix64(seed: 20)
        let characters = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-._?=".utf8)
        for _ in 0..<500 {
            let digest = (0..<20).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let length = Int.random(in: 1...211, using: &rng)
            let name = String(decoding: (0..<length).map { _ in characters.randomElement(using: &rng) ?? 97 }, as: UTF8.self)
            let path = try StorePath(digest: digest, name: name)
            #expect(path.digest == digest)
            #expect(try StorePath(parsing: path.absolute(in: .guix), in: .guix) == path)
        }
    }

    /// Paths order as their base names' bytes (C++ std::set<std::string>), although `<` compares
    /// hash parts then names; and a name at the length limit, or one byte past it, parses the
    /// same way through every spelling (String, Substring, a non-contiguous view).
    @Test func orderIsBaseNameByteOrderAndEveryRouteAgrees() throws {
        var rng = SplitMix64(seed: 7)
        let characters = Array("abcXYZ019+-._?=".utf8)
        var paths: [StorePath] = []
        for i in 0..<300 {
            // Few distinct digests, so equal hash parts with different names occur.
            let digest = (0..<20).map { _ in UInt8.random(in: 0...1, using: &rng) }
            let name = String(decoding: (0...(i % 7)).map { _ in characters.randomElement(using: &rng) ?? 97 }, as: UTF8.self)
            paths.append(try StorePath(digest: digest, name: name))
        }
        #expect(paths.sorted().map(\.baseName) == paths.map(\.baseName).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        let hash = "00bgd045z0d4icpbc2yyz4gx48ak44la"
        for name in [String(repeating: "n", count: 211), String(repeating: "n", count: 212), "x", ".x", "a/b", ""] {
            for rules in [StorePathName.Rules.nix, .guix] {
                let text = "/nix/store/" + hash + "-" + name
                let direct = try? StorePath(parsing: text, in: .nix, rules: rules)
                let viaSubstring = try? StorePath(parsing: ("#" + text).dropFirst(), in: .nix, rules: rules)
                let viaBaseName = try? StorePath(baseName: Substring(hash + "-" + name), rules: rules)
                #expect(direct == viaSubstring && direct == viaBaseName, "\(name.prefix(8))… \(rules)")
                #expect((direct != nil) == (name == "x" || (name == ".x" && rules == .nix) || (name.count == 211 && rules == .nix)
                                            || (name.count <= 222 && name.first == "n" && rules == .guix)))
            }
        }
    }
}
