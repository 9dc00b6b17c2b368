import StoreFormats
import Testing

@Suite("Export stream", .tags(.small))
struct NARExportTests {
    @Test func treeExportRoundTrip() throws {
        let bytes = try NARTestVectors.bytes("export/tree.export")
        let nar = try NARTestVectors.bytes("nar/tree-nix28.nar")
        #expect(bytes.count == 984)
        let reader = ExportReader(source: TrickleSource(bytes, step: 5), storeDirectory: .nix)
        var writer = NARWriter(sink: [UInt8]())
        let trailer = try #require(try reader.next(into: &writer))
        #expect(writer.sink == nar)
        #expect(trailer.storePath.absolute(in: .nix) == "/nix/store/mnmyz60sv4gzgh9acb2z4vz3m83q8m0m-tree")
        #expect(trailer.references.isEmpty)
        #expect(trailer.deriver == nil)
        #expect(trailer.signature == nil)
        // Guix signs NAR … deriver: everything after the leading 1, before the signature flag.
        #expect(trailer.signedDigest == Hasher.hash(.sha256, bytes[8..<(bytes.count - 16)]))
        var validator = NARValidator()
        #expect(try reader.next(into: &validator) == nil)
        #expect(reader.isFinished && reader.offset == UInt64(bytes.count))

        var export = ExportWriter(sink: [UInt8](), storeDirectory: .nix)
        try export.beginItem()
        try export.writeNAR(writer.sink)
        try export.endItem(trailer)
        try export.finish()
        #expect(export.sink == bytes)
    }

    @Test func itemsWithReferencesDeriverAndSignature() throws {
        let path = try StorePath(parsing: "/gnu/store/mnmyz60sv4gzgh9acb2z4vz3m83q8m0m-tree", in: .guix)
        let reference = try StorePath(parsing: "/gnu/store/0h40zg6hakjv951nyhdad7mv9za56m3z-dep", in: .guix)
        let deriver = try StorePath(parsing: "/gnu/store/1wcwacrb5q36hpsx1shk0dkm26hwbmqm-tree.drv", in: .guix)
        let first = ExportTrailer(storePath: path, references: [reference], deriver: deriver, signature: Array("(signature …)".utf8))
        let second = ExportTrailer(storePath: reference, references: [], deriver: nil)
        var export = ExportWriter(sink: [UInt8](), storeDirectory: .guix)
        for trailer in [first, second] {
            try export.beginItem()
            try export.writeNAR(NAR.regularFile(Array(trailer.storePath.name.utf8)))
            try export.endItem(trailer)
        }
        try export.finish()
        let reader = ExportReader(source: ByteArraySource(export.sink), storeDirectory: .guix)
        var got: [ExportTrailer] = []
        var validator = NARValidator()
        while let trailer = try reader.next(into: &validator) {
            got.append(ExportTrailer(storePath: trailer.storePath, references: trailer.references, deriver: trailer.deriver, signature: trailer.signature))
        }
        #expect(got == [first, second])
    }

    @Test func rejectsMalformedStreams() throws {
        let bytes = try NARTestVectors.bytes("export/tree.export")
        func reject(_ input: [UInt8], _ fragment: String) {
            let reader = ExportReader(source: ByteArraySource(input), storeDirectory: .nix)
            var validator = NARValidator()
            do {
                while try reader.next(into: &validator) != nil {}
                Issue.record("accepted: \(fragment)")
            } catch let error as FormatError {
                #expect("\(error)".contains(fragment), "\(error)")
            } catch {
                Issue.record("\(error)")
            }
        }
        var badMarker = bytes
        badMarker[0] = 2
        reject(badMarker, "expected item marker")
        var badMagic = bytes
        badMagic[8 + 880] ^= 1
        reject(badMagic, "expected export magic")
        reject(Array(bytes.prefix(900)), "unexpected end of input")
        var badPath = bytes
        badPath[8 + 880 + 8 + 8 + 11] = UInt8(ascii: "e")  // 'e' is not a nix32 character
        reject(badPath, "invalid store path")
        var wrongDirectory = bytes
        wrongDirectory[8 + 880 + 8 + 8 + 1] = UInt8(ascii: "g")
        reject(wrongDirectory, "is not in the store /nix/store")
        var hugeCount = bytes
        hugeCount.replaceSubrange((8 + 880 + 8 + 56)..<(8 + 880 + 8 + 64), with: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        reject(hugeCount, "references exceed the limit")
        var badNAR = bytes
        badNAR[8 + 8] = UInt8(ascii: "m")
        reject(badNAR, "doesn't look like a Nix archive")
    }
}
