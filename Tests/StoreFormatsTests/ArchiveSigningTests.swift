import Foundation
import StoreFormats
import Testing

/// Guix archive signing (formats.md §3.5, §5.4): key generation, signing, and the import check
/// with guix-daemon's messages. The real berlin/bordeaux signatures in `narinfo.json` are made by
/// the same `signature-sexp` as an archive signature, so they are known answers for the check.
@Suite("Archive signing", .tags(.small))
struct ArchiveSigningTests {
    struct GuixVector {
        let signature: [UInt8]
        let digest: Hash
        let key: GuixPublicKey
        let sHex: String
    }

    static func guixVectors() throws -> [GuixVector] {
        try Vectors.json("narinfo.json").objects("guix").map { entry in
            let narinfo = try entry.string("narinfo")
            let field = try #require(narinfo.split(separator: "\n").first { $0.hasPrefix("Signature: ") })
            let base64 = try #require(field.split(separator: ";").last)
            return GuixVector(signature: try #require(Base64.decode(base64)),
                              digest: try Hash(algorithm: .sha256, bytes: Vectors.hex(try entry.string("signed_part_sha256"))),
                              key: try GuixPublicKey(parsing: try entry.string("public_key_sexp")),
                              sHex: try entry.string("s_hex"))
        }
    }

    /// Guix printed these with `canonical-sexp->string`; libgcrypt's advanced form of the parsed
    /// expression must give the very same bytes (it is what our signatures and messages use).
    @Test func advancedFormReproducesGuixBytes() throws {
        for vector in try Self.guixVectors() {
            let sexp = try SExpression(parsing: vector.signature)
            #expect(try sexp.advancedForm() == vector.signature)
            #expect(String(decoding: vector.signature, as: UTF8.self) == sexp.advancedText)
        }
    }

    @Test func realGuixSignaturesPassTheImportCheck() throws {
        let vectors = try Self.guixVectors()
        #expect(vectors.count == 2)
        for vector in vectors {
            try ArchiveAuthentication.verify(vector.signature, digest: vector.digest, authorizedKeys: [vector.key])
            // Not in the ACL: Guix names the key in advanced form.
            let others = vectors.map(\.key).filter { $0 != vector.key }
            let unauthorized = try #require(throws: FormatError.self) {
                try ArchiveAuthentication.verify(vector.signature, digest: vector.digest, authorizedKeys: others)
            }
            let q = try #require(vector.key.q).map { String(format: "%02X", $0) }.joined()
            #expect(unauthorized.description == "unauthorized public key: (public-key \n (ecc \n  (curve Ed25519)\n  (q #\(q)#)\n  )\n )\n")
            #expect(throws: FormatError.archiveRejected(.unauthorized(key: try SExpression(parsing: vector.key.sexp.advancedForm()).advancedText))) {
                try ArchiveAuthentication.verify(vector.signature, digest: vector.digest, authorizedKeys: [])
            }
            // A good signature over other bytes: the Trojan horse.
            var other = vector.digest.bytes
            other[0] ^= 1
            #expect(throws: FormatError.archiveRejected(.hashMismatch)) {
                try ArchiveAuthentication.verify(vector.signature, digest: try Hash(algorithm: .sha256, bytes: other), authorizedKeys: [vector.key])
            }
            // s changed: libgcrypt refuses, and the message carries the whole signature.
            let text = String(decoding: vector.signature, as: UTF8.self)
            let bumped = String(vector.sHex.dropLast()) + (vector.sHex.hasSuffix("B") ? "C" : "B")
            let tampered = Array(text.replacingOccurrences(of: vector.sHex, with: bumped).utf8)
            #expect(tampered != vector.signature)
            #expect(throws: FormatError.archiveRejected(.invalid(signature: String(decoding: tampered, as: UTF8.self)))) {
                try ArchiveAuthentication.verify(tampered, digest: vector.digest, authorizedKeys: [vector.key])
            }
        }
    }

    @Test func corruptSignatures() throws {
        let key = try Self.guixVectors()[0].key
        let digest = Hasher.hash(.sha256, [UInt8]())
        #expect(throws: FormatError.archiveRejected(.corrupt(signature: "not an s-expression"))) {
            try ArchiveAuthentication.verify(Array("not an s-expression".utf8), digest: digest, authorizedKeys: [key])
        }
        let noData = "(signature (sig-val (ecdsa (r #01#) (s #02#))) \(key.description))"
        let error = try #require(throws: FormatError.self) {
            try ArchiveAuthentication.verify(Array(noData.utf8), digest: digest, authorizedKeys: [key])
        }
        #expect(error.description.hasPrefix("corrupt signature data: (signature \n (sig-val \n"))
        let noSigVal = "(signature (data (flags rfc6979) (hash sha256 #\(digest.base16)#)) \(key.description))"
        let invalid = try #require(throws: FormatError.self) {
            try ArchiveAuthentication.verify(Array(noSigVal.utf8), digest: digest, authorizedKeys: [key])
        }
        #expect(invalid.description.hasPrefix("invalid signature: (signature \n (data \n"))
        #expect(ArchiveRejection.unsigned(storePath: "/gnu/store/x-y").description == "imported archive of `/gnu/store/x-y' lacks a signature")
        #expect(ArchiveRejection.hashMismatch.description == "signed hash doesn't match actual contents of imported archive; archive could be corrupt, or someone is trying to import a Trojan horse")
    }

    @Test func generatedKeysSignAsGuixDoes() throws {
        let pair = try GuixKeyPair.generate()
        #expect(pair.publicKey.q?.count == 32 && pair.publicKey.algorithm == Array("ecc".utf8))
        let publicText = String(decoding: try pair.publicKey.sexp.advancedForm(), as: UTF8.self)
        #expect(publicText.hasPrefix("(public-key \n (ecc \n  (curve Ed25519)\n  (q #") && publicText.hasSuffix("#)\n  )\n )\n"))
        // The key files re-read to the same keys.
        #expect(try GuixPublicKey(parsing: try pair.publicKey.sexp.advancedForm()) == pair.publicKey)
        #expect(try GuixSecretKey(parsing: try pair.secretKey.sexp.advancedForm()).sexp == pair.secretKey.sexp)

        let digest = Hasher.hash(.sha256, Array("NAR … deriver".utf8))
        let signature = try pair.sign(digest)
        try ArchiveAuthentication.verify(signature, digest: digest, authorizedKeys: [pair.publicKey])
        // The envelope is exactly the shape of Guix's: data with rfc6979 and the hash, an ECDSA
        // sig-val, the public key; already in advanced form.
        let sexp = try SExpression(parsing: signature)
        #expect(try sexp.advancedForm() == signature)
        let text = String(decoding: signature, as: UTF8.self)
        #expect(text.hasPrefix("(signature \n (data \n  (flags rfc6979)\n  (hash sha256 #\(digest.base16.uppercased())#)\n  )\n (sig-val \n  (ecdsa \n   (r #"))
        #expect(sexp.find("public-key") == pair.publicKey.sexp)
        // The same bytes are a valid narinfo signature (same signature-sexp in Guix).
        let narinfo = "StorePath: /gnu/store/mnmyz60sv4gzgh9acb2z4vz3m83q8m0m-tree\nURL: nar/mnmyz60sv4gzgh9acb2z4vz3m83q8m0m-tree\nCompression: none\nNarHash: sha256:1sk6yfygcvgv3p3y5dyrxpnzbkyl8n3d1dxh1qkgi9jiwdmzngps\nNarSize: 120\nReferences: \n"
        let signed = try pair.sign(Hasher.hash(.sha256, Array(narinfo.utf8)))
        let full = narinfo + "Signature: 1;cloister;" + Base64.encode(signed) + "\n"
        _ = try NarInfo(verifyingGuixSignatureOf: Array(full.utf8), in: .guix, authorizedKeys: [pair.publicKey])
        // Another pair's key is not this one's.
        let stranger = try GuixKeyPair.generate()
        #expect(throws: FormatError.self) { try ArchiveAuthentication.verify(signature, digest: digest, authorizedKeys: [stranger.publicKey]) }
    }

    @Test func keyParsingRejectsWhatIsNotAKey() throws {
        #expect(throws: FormatError.self) { try GuixSecretKey(parsing: Array("(private-key (ecc (curve Ed25519) (q #01#)))".utf8)) }
        #expect(throws: FormatError.self) { try GuixSecretKey(parsing: Array("(public-key (ecc (curve Ed25519) (q #01#)))".utf8)) }
        #expect(throws: FormatError.self) { try GuixKeyPair.generate(parameters: "(notgenkey)") }
        // A secret key never shows in an error.
        let error = try #require(throws: FormatError.self) {
            try GuixSecretKey(parsing: Array("(private-key (dsa (d #DEADBEEF#)))".utf8))
        }
        #expect(!error.description.contains("DEADBEEF"))
    }

    /// The Nix 2.8 export vector, signed as guix-daemon signs: the digest the reader computes is
    /// the one signed, a tampered NAR byte changes it, and the check names the Trojan horse.
    @Test func signedExportOfTheTreeVector() throws {
        let bytes = try Vectors.bytes("export/tree.export")
        let pair = try GuixKeyPair.generate()
        let reader = ExportReader(source: TrickleSource(bytes, step: 7), storeDirectory: .nix)
        var nar = NARWriter(sink: [UInt8]())
        var trailer = try #require(try reader.next(into: &nar))
        let digest = try #require(trailer.signedDigest)
        trailer.signature = try pair.sign(digest)
        var export = ExportWriter(sink: [UInt8](), storeDirectory: .nix)
        try export.beginItem()
        try export.writeNAR(nar.sink)
        try export.endItem(trailer)
        try export.finish()
        // Unsigned bytes up to the flag are the vector's; then `1` and the signature.
        #expect(Array(export.sink.prefix(bytes.count - 16)) == Array(bytes.prefix(bytes.count - 16)))

        let again = ExportReader(source: TrickleSource(export.sink, step: 3), storeDirectory: .nix)
        var validator = NARValidator()
        let read = try #require(try again.next(into: &validator))
        #expect(read.signature == trailer.signature && read.signedDigest == digest)
        try ArchiveAuthentication.verify(try #require(read.signature), digest: digest, authorizedKeys: [pair.publicKey])

        // "#!/bin/sh" in the vector's run.sh becomes "#!/bin/sH": still a NAR, other digest.
        var tampered = export.sink
        let contents = try #require(findBytes(Array("#!/bin/sh".utf8), in: tampered)) + 8
        tampered[contents] = UInt8(ascii: "H")
        let forged = ExportReader(source: TrickleSource(tampered, step: 11), storeDirectory: .nix)
        var ignore = NARValidator()
        let bad = try #require(try forged.next(into: &ignore))
        #expect(bad.signedDigest != digest)
        #expect(throws: FormatError.archiveRejected(.hashMismatch)) {
            try ArchiveAuthentication.verify(try #require(bad.signature), digest: try #require(bad.signedDigest), authorizedKeys: [pair.publicKey])
        }
    }

    /// security.md P-8.2: the signature binds the path, the references and the deriver too;
    /// moving a good signature onto other metadata is the Trojan horse.
    @Test func signatureBindsPathReferencesAndDeriver() throws {
        let bytes = try Vectors.bytes("export/tree.export")
        let pair = try GuixKeyPair.generate()
        var nar = NARWriter(sink: [UInt8]())
        var trailer = try #require(try ExportReader(source: TrickleSource(bytes, step: 64), storeDirectory: .nix).next(into: &nar))
        trailer.signature = try pair.sign(try #require(trailer.signedDigest))
        let other = try StorePath(baseName: "0h40zg6hakjv951nyhdad7mv9za56m3z-dep")
        var edits: [ExportTrailer] = []
        var renamed = trailer; renamed.storePath = other; edits.append(renamed)
        var referring = trailer; referring.references = [other]; edits.append(referring)
        var derived = trailer; derived.deriver = try StorePath(baseName: "1wcwacrb5q36hpsx1shk0dkm26hwbmqm-tree.drv"); edits.append(derived)
        for (index, edit) in ([trailer] + edits).enumerated() {
            var export = ExportWriter(sink: [UInt8](), storeDirectory: .nix)
            try export.beginItem(); try export.writeNAR(nar.sink); try export.endItem(edit); try export.finish()
            var validator = NARValidator()
            let read = try #require(try ExportReader(source: TrickleSource(export.sink, step: 64), storeDirectory: .nix).next(into: &validator))
            let signature = try #require(read.signature), digest = try #require(read.signedDigest)
            let check = { () throws(FormatError) in
                try ArchiveAuthentication.verify(signature, digest: digest, authorizedKeys: [pair.publicKey])
            }
            if index == 0 { try check() } else { #expect(throws: FormatError.archiveRejected(.hashMismatch), "edit \(index)") { try check() } }
        }
    }

    func findBytes(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        return (0...(haystack.count - needle.count)).first { haystack[$0..<$0 + needle.count].elementsEqual(needle) }
    }
}
