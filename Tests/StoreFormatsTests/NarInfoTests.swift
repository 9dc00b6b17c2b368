import Testing
@testable import StoreFormats

/// narinfo.json: every Nix and Guix narinfo parses, renders back byte for byte and gives the
/// vector fingerprint; malformed narinfos are refused with the line at fault.
@Suite(.tags(.small))
struct NarInfoTests {
    static func nixEntries() throws -> [[String: Any]] { try Vectors.json("narinfo.json").objects("nix") }
    static func guixEntries() throws -> [[String: Any]] { try Vectors.json("narinfo.json").objects("guix") }

    @Test func nixNarInfosRoundTripAndFingerprint() throws {
        let entries = try Self.nixEntries()
        #expect(entries.count == 3)
        for entry in entries {
            let text = try entry.string("narinfo")
            let info = try NarInfo(parsing: text, in: .nix)
            #expect(info.rendered == text)
            #expect(info.fingerprint == (try entry.string("fingerprint")))
            #expect(try NarInfo(parsing: info.rendered, in: .nix) == info)
        }
    }

    @Test func nixFieldsAreRead() throws {
        let info = try NarInfo(parsing: try Self.nixEntries()[0].string("narinfo"), in: .nix)
        #expect(info.storePath.baseName == "syd87l2rxw8cbsxmxl853h0r6pdwhwjr-curl-7.82.0-bin")
        #expect(info.files == [NarInfo.File(url: "nar/05ra3y72i3qjri7xskf9qj8kb29r6naqy1sqpbs3azi3xcigmj56.nar.xz", compression: "xz",
                                            fileHash: try Hash(parsing: "sha256:05ra3y72i3qjri7xskf9qj8kb29r6naqy1sqpbs3azi3xcigmj56"),
                                            fileSize: 68852)])
        #expect(info.narSize == 196040)
        #expect(info.references.count == 4)
        #expect(info.deriver?.name == "curl-7.82.0.drv")
        #expect(info.signatures.map(\.keyName) == ["cache.nixos.org-1", "test1"])
        #expect(info.system == nil)
        let ca = try NarInfo(parsing: try Self.nixEntries()[2].string("narinfo"), in: .nix)
        #expect(ca.contentAddress?.description == "fixed:r:sha256:0sg9f58l1jj88w6pdrfdpj5x9b1zrwszk84j81zvby36q9whhhqa")
        #expect(ca.signatures.isEmpty)
        // The CA agrees with the path it describes.
        #expect(try ca.contentAddress?.storePath(name: ca.storePath.name, in: .nix) == ca.storePath)
    }

    @Test func guixNarInfosRoundTripInBothLayouts() throws {
        let entries = try Self.guixEntries()
        #expect(entries.count == 2)
        for entry in entries {
            let text = try entry.string("narinfo")
            let info = try NarInfo(parsing: text, in: .guix, rules: .guix)
            #expect(info.rendered == text)
            #expect(try NarInfo(parsing: info.rendered, in: .guix, rules: .guix) == info)
            let signature = try #require(info.guixSignature)
            #expect(String(decoding: signature.sexpBytes, as: UTF8.self) == (try entry.string("signature_sexp")))
            #expect(signature.signedHash.base16 == (try entry.string("signed_part_sha256")))
            #expect(signature.publicKey.q.map { Base16.encode($0).uppercased() } == (try entry.string("q_hex")))
            #expect(signature.publicKey == (try GuixPublicKey(parsing: try entry.string("public_key_sexp"))))
            // The signed part is all bytes before "Signature:", and its hash is the one signed.
            let signed = try #require(GuixSignature.signedPart(of: Array(text.utf8)))
            #expect(Hasher.hash(.sha256, signed).base16 == (try entry.string("signed_part_sha256")))
        }
        let bordeaux = try NarInfo(parsing: try entries[1].string("narinfo"), in: .guix, rules: .guix)
        #expect(bordeaux.references.contains(bordeaux.storePath))
        #expect(bordeaux.files.first?.compression == "lzip")
        #expect(bordeaux.system == "x86_64-linux")
        #expect(bordeaux.layout.last == .fileSize)
    }

    @Test func builtInCodeRendersInNixOrder() throws {
        let path = try StorePath(baseName: "jbzjdlczhy5nazj3d5ldki9ifmk3h6a1-built")
        let hash = try Hash(parsing: "sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h")
        let info = NarInfo(storeDirectory: .nix, storePath: path,
                           files: [.init(url: "nar/1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h.nar", compression: "none", fileHash: hash, fileSize: 120)],
                           narHash: hash, narSize: 120, references: [],
                           deriver: try StorePath(baseName: "82saq6djw49gd7ywbhyvr90ymqggi6cp-built.drv"),
                           signatures: [try NixSignature(parsing: "test1:lXUGu5WRKsDMwRHb/Bhl8yydo58AdVHEy9vI8cjShuOmKPdPWhw9nGuHKQsL78l9GXguHvnWVb8iJ3/4jrsKDw==")])
        #expect(info.rendered == (try Self.nixEntries()[1].string("narinfo")))
    }

    /// Old caches: base16 NarHash, unsorted references, unknown-deriver, unknown keys.
    @Test func acceptsOldSpellings() throws {
        let text = """
            StorePath: /nix/store/syd87l2rxw8cbsxmxl853h0r6pdwhwjr-curl
            URL: nar/x.nar.bz2
            NarHash: sha256:0a430879c266f8b57f4092a0f935cf3facd48bbccde5760d4748ca405171e969
            NarSize: 120
            References: yxvjs9drzsphm9pcf42a4byzj1kb9m7k-openssl 0jqd0rlxzra1rs38rdxl43yh6rxchgc6-curl
            Deriver: unknown-deriver
            X-Extra: kept as is

            """
        let info = try NarInfo(parsing: text, in: .nix)
        #expect(info.narHash.nix32 == "0sg9f58l1jj88w6pdrfdpj5x9b1zrwszk84j81zvby36q9whhhqa")
        #expect(info.deriver == nil)
        #expect(info.files[0].compression == nil)
        #expect(info.otherFields == [.init(key: "X-Extra", value: "kept as is")])
        #expect(info.fingerprint.hasSuffix(";120;/nix/store/0jqd0rlxzra1rs38rdxl43yh6rxchgc6-curl,/nix/store/yxvjs9drzsphm9pcf42a4byzj1kb9m7k-openssl"))
        #expect(try NarInfo(parsing: info.rendered, in: .nix) == info)
    }

    static let minimal = """
        StorePath: /nix/store/jbzjdlczhy5nazj3d5ldki9ifmk3h6a1-built
        URL: nar/a.nar
        NarHash: sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h
        NarSize: 120
        References: \("")

        """

    /// One bad input per class; each must name the line at fault (0 for the whole text).
    static let badNarInfos: [BadNarInfo] = [
        BadNarInfo("", line: 0),
        BadNarInfo("StorePath: /nix/store/jbzjdlczhy5nazj3d5ldki9ifmk3h6a1-built", line: 0),  // no final newline
        BadNarInfo("URL: nar/a.nar\nNarHash: sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h\nNarSize: 1\nReferences: \n", line: 0),
        BadNarInfo(edit(minimal, "URL: nar/a.nar\n", ""), line: 0),
        BadNarInfo(edit(minimal, "References: \n", ""), line: 0),
        BadNarInfo(edit(minimal, "NarSize: 120\n", ""), line: 0),
        BadNarInfo(edit(minimal, "NarHash: sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h\n", ""), line: 0),
        BadNarInfo(minimal + "StorePath: /nix/store/jbzjdlczhy5nazj3d5ldki9ifmk3h6a1-built\n", line: 6),
        BadNarInfo(minimal + "References: \n", line: 6),
        BadNarInfo(minimal + "NarHash: sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h\n", line: 6),
        BadNarInfo(minimal + "Compression: xz\nCompression: xz\n", line: 0),
        BadNarInfo(edit(minimal, "/nix/store/jbz", "/gnu/store/jbz"), line: 1),
        BadNarInfo(edit(minimal, "-built\n", "-bu/ilt\n"), line: 1),
        BadNarInfo(edit(minimal, "sha256:1xmr8", "sha256:1xmre"), line: 3),
        BadNarInfo(edit(minimal, "sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h", "sha1:6f5dlxf2bcy7zm0dbp4xn3rzxaswgvhb"), line: 3),
        BadNarInfo(edit(minimal, "NarSize: 120", "NarSize: 0"), line: 4),
        BadNarInfo(edit(minimal, "NarSize: 120", "NarSize: 0120"), line: 4),
        BadNarInfo(edit(minimal, "NarSize: 120", "NarSize: -1"), line: 4),
        BadNarInfo(edit(minimal, "NarSize: 120", "NarSize: 18446744073709551616"), line: 4),
        BadNarInfo(edit(minimal, "References: ", "References: x"), line: 5),
        BadNarInfo(edit(minimal, "References: ", "References: jbzjdlczhy5nazj3d5ldki9ifmk3h6a1-built  jbzjdlczhy5nazj3d5ldki9ifmk3h6a1-b"), line: 5),
        BadNarInfo(edit(minimal, "References: ", "References: jbzjdlczhy5nazj3d5ldki9ifmk3h6a1-built jbzjdlczhy5nazj3d5ldki9ifmk3h6a1-built"), line: 5),
        BadNarInfo(minimal + "Sig: test1:AAAA\n", line: 6),
        BadNarInfo(minimal + "Sig: nokey\n", line: 6),
        BadNarInfo(minimal + "Deriver: x.drv\n", line: 6),
        BadNarInfo(minimal + "CA: fixed:r:sha256:x\n", line: 6),
        BadNarInfo(minimal + "FileSize: many\n", line: 6),
        BadNarInfo(minimal + "FileHash: sha256:\n", line: 6),
        BadNarInfo(minimal + "Signature: 2;host;KCk=\n", line: 6),
        BadNarInfo(minimal + "Signature: 1;host;KHNpZ25hdHVyZSk=\n", line: 6),
        BadNarInfo(minimal + "NoSpace:x\n", line: 6),
        BadNarInfo(minimal + "no colon\n", line: 6),
        BadNarInfo(minimal + ": empty key\n", line: 6),
        BadNarInfo(minimal + "\n", line: 6),
    ]

    @Test(arguments: badNarInfos)
    func rejectsBadNarInfos(_ bad: BadNarInfo) throws {
        let text = bad.text, line = bad.line
        let error = try #require(throws: FormatError.self) { try NarInfo(parsing: text, in: .nix) }
        guard case .invalidNarInfo(let at, _) = error else {
            Issue.record("expected invalidNarInfo, got \(error)")
            return
        }
        #expect(at == line, "\(error)")
    }

    @Test func rejectsOversizeAndNonUTF8() throws {
        var huge = Array(Self.minimal.utf8)
        huge += Array("X: ".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: NarInfo.maxSize) + [0x0A]
        #expect(throws: FormatError.invalidNarInfo(line: 0, reason: "\(huge.count) bytes, the limit is \(NarInfo.maxSize)")) {
            try NarInfo(parsing: huge, in: .nix)
        }
        let latin1 = Array(Self.minimal.utf8) + Array("System: ".utf8) + [0xE9, 0x0A]
        #expect(throws: FormatError.self) { try NarInfo(parsing: latin1, in: .nix) }
        #expect(try NarInfo(parsing: Self.minimal, in: .nix).rendered == Self.minimal)
    }

    @Test func nixCacheInfo() throws {
        let text = try Vectors.json("narinfo.json").object("nix_cache_info").string("text")
        let info = try NixCacheInfo(parsing: text)
        #expect(info == NixCacheInfo(storeDirectory: .nix))
        #expect(info.rendered == text)
        let guix = "StoreDir: /gnu/store\nWantMassQuery: 0\nPriority: 100\n"
        #expect(try NixCacheInfo(parsing: guix) == NixCacheInfo(storeDirectory: .guix, wantMassQuery: false, priority: 100))
        #expect(try NixCacheInfo(parsing: guix).rendered == guix)
        #expect(try NixCacheInfo(parsing: "Other: x\nStoreDir: /nix/store\n").storeDirectory == .nix)
        for bad in ["", "StoreDir: /nix/store", "Priority: 1\n", "StoreDir: relative\n", "StoreDir: /a\nStoreDir: /b\n",
                    "StoreDir: /a\nWantMassQuery: yes\n", "StoreDir: /a\nPriority: -1\n", "StoreDir:/a\n"] {
            #expect(throws: FormatError.self, "\(bad)") { try NixCacheInfo(parsing: bad) }
        }
    }

    /// A narinfo near the size limit made of many short lines parses and renders in linear time.
    @Test func manyLinesStayFast() throws {
        var text = Self.minimal
        for i in 0..<20_000 { text += "X\(i % 7): v\n" }
        let clock = ContinuousClock()
        let elapsed = try clock.measure {
            let info = try NarInfo(parsing: text, in: .nix)
            #expect(info.otherFields.count == 20_000)
            #expect(info.rendered == text)
        }
        #expect(elapsed < .seconds(10), "\(elapsed)")
    }

    /// Property: changing any one field's value changes what a signature covers (the Nix
    /// fingerprint or the Guix signed part), or is outside it by design.
    @Test func fingerprintBindsPathHashSizeAndReferences() throws {
        let base = try NarInfo(parsing: try Self.nixEntries()[0].string("narinfo"), in: .nix)
        var changed = base
        changed.narSize += 1
        #expect(changed.fingerprint != base.fingerprint)
        changed = base
        changed.references.removeLast()
        #expect(changed.fingerprint != base.fingerprint)
        changed = base
        changed.narHash = Hasher.hash(.sha256, "other")
        #expect(changed.fingerprint != base.fingerprint)
        changed = base
        changed.storePath = try StorePath(digest: base.storePath.digest, name: "curl-7.82.0-bim")
        #expect(changed.fingerprint != base.fingerprint)
        changed = base
        changed.references.reverse()
        #expect(changed.fingerprint == base.fingerprint)
    }
}

struct BadNarInfo: Sendable, CustomTestStringConvertible {
    let text: String
    let line: Int
    init(_ text: String, line: Int) {
        self.text = text
        self.line = line
    }
    var testDescription: String { "line \(line): \(text.debugDescription.prefix(80))" }
}

/// `text` with every `old` replaced by `new` (the standard library's, not Foundation's).
func edit(_ text: String, _ old: String, _ new: String) -> String {
    text.replacing(old, with: new)
}
