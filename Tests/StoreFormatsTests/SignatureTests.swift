import Testing
@testable import StoreFormats

/// narinfo.json signatures: Nix Ed25519 (valid ones verify, invalid ones do not, re-signing with
/// the Nix 2.8 secret key is deterministic) and Guix s-expression signatures (both real
/// narinfos verify; tampered ones, other keys and shifted signed parts do not).
@Suite(.tags(.small))
struct SignatureTests {
    @Test func nixSignaturesVerify() throws {
        let entries = try Vectors.json("narinfo.json").objects("nix")
        var checked = 0
        for entry in entries {
            let info = try NarInfo(parsing: try entry.string("narinfo"), in: .nix)
            let keys = try (entry["public_keys"] as? [String] ?? []).map { try NixPublicKey(parsing: $0) }
            for text in entry["signatures_valid"] as? [String] ?? [] {
                let signature = try NixSignature(parsing: text)
                #expect(signature.description == text)
                #expect(keys.contains { $0.verifies(signature, of: info.fingerprint) }, "\(text)")
                checked += 1
            }
            for text in entry["signatures_invalid"] as? [String] ?? [] {
                let signature = try NixSignature(parsing: text)
                #expect(!keys.contains { $0.verifies(signature, of: info.fingerprint) }, "\(text)")
                checked += 1
            }
            #expect(info.validSignatures(trustedKeys: keys).count == (entry["signatures_valid"] as? [String] ?? []).count)
        }
        #expect(checked == 4)
    }

    @Test func nixSignatureChecksNameMessageAndKey() throws {
        let entry = try Vectors.json("narinfo.json").objects("nix")[1]
        let info = try NarInfo(parsing: try entry.string("narinfo"), in: .nix)
        let key = try NixPublicKey(parsing: try entry.string("public_key_file"))
        let signature = try #require(info.signatures.first)
        #expect(key.verifies(signature, of: info.fingerprint))
        // Another message, another name, another key: all refused.
        #expect(!key.verifies(signature, of: info.fingerprint + " "))
        let renamed = try NixSignature(keyName: "test2", bytes: signature.bytes)
        #expect(!key.verifies(renamed, of: info.fingerprint))
        let other = try NixPublicKey(parsing: "test1:tLAEn+EeaBUJYqEpTd2yeerr7Ic6+0vWe+aXL/vYUpE=")
        #expect(!other.verifies(signature, of: info.fingerprint))
        for bit in [0, 100, 300, 511] {
            var bytes = signature.bytes
            bytes[bit / 8] ^= 1 << (bit % 8)
            #expect(!key.verifies(try NixSignature(keyName: "test1", bytes: bytes), of: info.fingerprint), "bit \(bit)")
        }
        // S + L (the group order) is the same signature to libgcrypt's arithmetic, but a second
        // spelling; libsodium, and so Nix, refuses it.
        var malleated = signature.bytes
        let order: [UInt8] = [0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
                              0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10]
        var carry = 0
        for i in 0..<32 {
            let sum = Int(malleated[32 + i]) + Int(order[i]) + carry
            malleated[32 + i] = UInt8(sum & 0xFF)
            carry = sum >> 8
        }
        #expect(carry == 0)
        #expect(!key.verifies(try NixSignature(keyName: "test1", bytes: malleated), of: info.fingerprint))
        // The cache.nixos.org signature is not accepted under the test key's name.
        #expect(info.validSignatures(trustedKeys: [other]).isEmpty)
    }

    @Test func resigningWithTheNix28KeyIsDeterministic() throws {
        let entry = try Vectors.json("narinfo.json").objects("nix")[1]
        let secret = try NixSecretKey(parsing: try entry.string("secret_key_file"))
        #expect(secret.publicKey.description == (try entry.string("public_key_file")))
        #expect(secret.description == (try entry.string("secret_key_file")))
        let signature = try secret.sign(try entry.string("fingerprint"))
        #expect(signature.description == (try entry.strings("signatures_valid")[0]))
        // Signing a narinfo value replaces its Sig line with an identical one.
        var info = try NarInfo(parsing: try entry.string("narinfo"), in: .nix)
        let before = info.rendered
        info.signatures = []
        try info.sign(with: secret)
        #expect(info.rendered == before)
    }

    @Test func tvixDummyKeyPairIsConsistent() throws {
        let pair = try Vectors.json("narinfo.json").object("nix_keypair_dummy")
        let secret = try NixSecretKey(parsing: try pair.string("secret_key_file"))
        #expect(secret.publicKey == (try NixPublicKey(parsing: try pair.string("public_key_file"))))
        let signature = try secret.sign("hello")
        #expect(secret.publicKey.verifies(signature, of: "hello"))
        #expect(!secret.publicKey.verifies(signature, of: "hellp"))
    }

    @Test func rejectsMalformedKeysAndSignatures() throws {
        let good = "test1:uM+JP8q9Wic0Wlh+sqpmWQ2HkhFq0fGNUA4FhpYwpy0="
        for bad in ["", "test1", ":uM+JP8q9Wic0Wlh+sqpmWQ2HkhFq0fGNUA4FhpYwpy0=", "test1:uM+JP8q9", "te st:uM+JP8q9Wic0Wlh+sqpmWQ2HkhFq0fGNUA4FhpYwpy0=",
                    "test1:" + String(repeating: "A", count: 88)] {
            #expect(throws: FormatError.self, "\(bad)") { try NixPublicKey(parsing: bad) }
            #expect(throws: FormatError.self, "\(bad)") { try NixSignature(parsing: bad) }
        }
        #expect(try NixPublicKey(parsing: good).description == good)
        // A secret key whose public half is not its seed's.
        let secret = "test1:ogt7gge8WQktd+X28q56L+q4S/tGFu6Jjgr7oq6qKQm4z4k/yr1aJzRaWH6yqmZZDYeSEWrR8Y1QDgWGljCnLQ=="
        var bytes = try #require(Base64.decode(secret.dropFirst(6)))
        bytes[40] ^= 1
        #expect(throws: FormatError.invalidKey("test1:…", reason: "the embedded public key is not the seed's")) {
            try NixSecretKey(parsing: "test1:" + Base64.encode(bytes))
        }
        #expect(throws: FormatError.self) { try NixSecretKey(parsing: good) }
    }

    // MARK: Guix

    static func guixKeys() throws -> [GuixPublicKey] {
        try Vectors.json("narinfo.json").objects("guix").map { try GuixPublicKey(parsing: try $0.string("public_key_sexp")) }
    }

    @Test func bothGuixNarInfosVerify() throws {
        let keys = try Self.guixKeys()
        for entry in try Vectors.json("narinfo.json").objects("guix") {
            let bytes = Array(try entry.string("narinfo").utf8)
            let info = try NarInfo(verifyingGuixSignatureOf: bytes, in: .guix, authorizedKeys: keys)
            #expect(info.guixSignature?.publicKey.q.map { Base16.encode($0).uppercased() } == (try entry.string("q_hex")))
            // Only the key that signed it will do.
            let own = try GuixPublicKey(parsing: try entry.string("public_key_sexp"))
            _ = try NarInfo(verifyingGuixSignatureOf: bytes, in: .guix, authorizedKeys: [own])
            let others = keys.filter { $0 != own }
            #expect(throws: FormatError.self) { try NarInfo(verifyingGuixSignatureOf: bytes, in: .guix, authorizedKeys: others) }
        }
    }

    /// Changing any byte of the signed part (a signed field) must break verification.
    @Test func tamperedGuixNarInfosFail() throws {
        let keys = try Self.guixKeys()
        for entry in try Vectors.json("narinfo.json").objects("guix") {
            let text = try entry.string("narinfo")
            let tampered = [
                edit(text, "NarSize: ", "NarSize: 1"),
                edit(text, "x86_64-linux", "i686-linux"),
                edit(text, "StorePath: /gnu/store/", "StorePath: /gnu/store/0"),  // then not a path at all
                edit(text, "References: ", "References: 0sg9f58l1jj88w6pdrfdpj5x9b1zrwsz-x "),
            ]
            for (index, bad) in tampered.enumerated() {
                #expect(bad != text)
                #expect(throws: FormatError.self, "edit \(index)") {
                    try NarInfo(verifyingGuixSignatureOf: Array(bad.utf8), in: .guix, authorizedKeys: keys)
                }
            }
            // Unsigned fields after the signature may change (bordeaux's URL group).
            if text.hasSuffix("FileSize: 68076\n") {
                let moved = edit(text, "FileSize: 68076", "FileSize: 1")
                _ = try NarInfo(verifyingGuixSignatureOf: Array(moved.utf8), in: .guix, authorizedKeys: keys)
            }
        }
    }

    /// Differential (security.md §5.5): changing any single byte of the signed part fails.
    @Test func everySignedByteMatters() throws {
        let keys = try Self.guixKeys()
        for entry in try Vectors.json("narinfo.json").objects("guix") {
            let bytes = Array(try entry.string("narinfo").utf8)
            let signedCount = try #require(GuixSignature.signedPart(of: bytes)).count
            for index in 0..<signedCount {
                var mutated = bytes
                mutated[index] = mutated[index] == UInt8(ascii: "a") ? UInt8(ascii: "b") : UInt8(ascii: "a")
                #expect(throws: FormatError.self, "byte \(index)") {
                    try NarInfo(verifyingGuixSignatureOf: mutated, in: .guix, authorizedKeys: keys)
                }
            }
        }
    }

    @Test func tamperedGuixSignatureValueFails() throws {
        let keys = try Self.guixKeys()
        let entry = try Vectors.json("narinfo.json").objects("guix")[0]
        let text = try entry.string("narinfo")
        let sexp = try entry.string("signature_sexp")
        let s = try entry.string("s_hex")
        // s + 1 (the vector's tampered case), a changed r, a changed signed hash.
        let lastDigit = try #require(s.last)
        let bumped = String(s.dropLast()) + (lastDigit == "B" ? "C" : "B")
        for badSexp in [edit(sexp, s, bumped), edit(sexp, "(r #C8", "(r #C9"), edit(sexp, "#A7BC", "#A7BD")] {
            #expect(badSexp != sexp)
            let field = "1;berlin.guixsd.org;" + Base64.encode(Array(badSexp.utf8))
            let bad = String(text.prefix(upTo: try #require(text.range(of: "Signature: ")).upperBound)) + field + "\n"
            let error = try #require(throws: FormatError.self) {
                try NarInfo(verifyingGuixSignatureOf: Array(bad.utf8), in: .guix, authorizedKeys: keys)
            }
            guard case .invalidSignature = error else { Issue.record("\(error)"); continue }
        }
        // Direct libgcrypt check on the vector values: the genuine triple verifies.
        let signature = try #require(try NarInfo(parsing: text, in: .guix, rules: .guix).guixSignature)
        #expect(GuixSignature.verify(signatureValue: signature.signatureValue, data: signature.data, key: signature.publicKey.sexp) == 0)
    }

    @Test func signatureMustCoverTheRequiredFields() throws {
        let keys = try Self.guixKeys()
        let text = try Vectors.json("narinfo.json").objects("guix")[1].string("narinfo")
        // No Signature line at all.
        let unsigned = text.split(separator: "\n").filter { !$0.hasPrefix("Signature:") }.joined(separator: "\n") + "\n"
        #expect(throws: FormatError.invalidSignature("", reason: "the narinfo has no Signature line")) {
            try NarInfo(verifyingGuixSignatureOf: Array(unsigned.utf8), in: .guix, authorizedKeys: keys)
        }
        // "Signature:" inside an earlier value would cut the signed part short.
        let early = edit(text, "System: x86_64-linux", "System: Signature:")
        #expect(throws: FormatError.self) {
            try NarInfo(verifyingGuixSignatureOf: Array(early.utf8), in: .guix, authorizedKeys: keys)
        }
    }
}

@Suite(.tags(.small))
struct GuixACLTests {
    @Test func readsTheImportKeysOfAnACL() throws {
        let q1 = "8D156F295D24B0D9A86FA5741A840FF2D24F60F7B6C4134814AD55625971B394"
        let q2 = "7D602902D3A2DBB83F8A0FB98602A754C5493B0B778C8D1DD4E0F41DE14DE34F"
        let acl = """
            (acl
             (entry
              (public-key
               (ecc
                (curve Ed25519)
                (q #\(q1)#)))
              (tag
               (guix import)))
             (entry (public-key (ecc (curve Ed25519) (q #\(q2)#))) (tag (guix other))))
            """
        let keys = try GuixPublicKey.authorizedKeys(acl: Array(acl.utf8))
        #expect(keys.map { $0.q.map { Base16.encode($0).uppercased() } } == [q1])
        #expect(try GuixPublicKey.authorizedKeys(acl: Array("(acl)".utf8)).isEmpty)
        for bad in ["(acl (entry))", "(list)", "(acl (entry (public-key (ecc (curve Ed25519) (q #00#))) (tag (guix import))))"] {
            #expect(throws: FormatError.self, "\(bad)") { try GuixPublicKey.authorizedKeys(acl: Array(bad.utf8)) }
        }
    }

    @Test func rejectsMalformedKeys() {
        for bad in ["(public-key)", "(public-key (ecc (curve Ed25519)))", "(public-key (dsa (p #00#)))", "(private-key (ecc (curve Ed25519) (q #00#)))",
                    "(public-key (ecc (curve Ed25519) (q #0011#)))", "(public-key (rsa (n #00#)))"] {
            #expect(throws: FormatError.self, "\(bad)") { try GuixPublicKey(parsing: bad) }
        }
    }
}
