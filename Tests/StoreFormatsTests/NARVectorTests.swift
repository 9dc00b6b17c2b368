import StoreFormats
import Testing

@Suite("NAR vectors", .tags(.small))
struct NARVectorTests {
    @Test func vectorsArePresent() {
        #expect(NARTestVectors.good.count >= 5)
        #expect(NARTestVectors.bad.count >= 15)
    }

    @Test("good NAR: size, hash, byte-exact re-serialisation", arguments: NARTestVectors.good)
    func goodVector(_ vector: NARTestVectors.Case) throws {
        let bytes = try NARTestVectors.bytes(vector.file)
        #expect(bytes.count == vector.size)
        #expect(try NAR.canonical(bytes) == bytes)
        // Hash and size while streaming, through a source that returns 3 bytes per read.
        let hasher = Hasher(.sha256)
        let reader = NARReader(source: HashingSource(TrickleSource(bytes, step: 3), hasher: hasher), chunkSize: 64)
        var writer = NARWriter(sink: [UInt8]())
        try reader.read(into: &writer)
        #expect(writer.sink == bytes)
        #expect(hasher.count == UInt64(vector.size))
        #expect(hasher.finish().base16 == vector.sha256Hex)
        #expect(hasher.finish().nix32 == vector.sha256Nix32)
        // Writing into a hasher directly gives the same digest.
        let direct = Hasher(.sha256)
        var hashingWriter = NARWriter(sink: TeeSink([UInt8](), direct))
        try NAR.parse(bytes, into: &hashingWriter)
        #expect(direct.finish().base16 == vector.sha256Hex)
    }

    @Test("bad NAR vector is rejected", arguments: NARTestVectors.bad)
    func badVector(_ vector: NARTestVectors.Case) throws {
        let bytes = try NARTestVectors.bytes(vector.file)
        #expect(bytes.count == vector.size)
        let expected: [String: String] = [
            "nar/bad/dot.nar": "invalid file name '.'",
            "nar/bad/dotdot.nar": "invalid file name '..'",
            "nar/bad/empty.nar": "invalid file name ''",
            "nar/bad/executable-after-contents.nar": "expected tag ')', got 'executable'",
            "nar/bad/invalid-tag-instead-of-contents.nar": "expected tag 'contents'",
            "nar/bad/name-after-node.nar": "expected tag 'name'",
            "nar/bad/nul-character.nar": "NUL",
            "nar/bad/regular-one-byte-non-zero-padding.nar": "non-zero padding",
            "nar/bad/regular-truncated-large-contents.nar": "unexpected end of input",
            "nar/bad/regular-truncated-padding.nar": "unexpected end of input",
            "nar/bad/slash.nar": "contains '/'",
            "nar/bad/unsorted.nar": "not sorted",
            "nar/bad/duplicate.nar": "two entries named 'a'",
            "nar/bad/exec-nonempty.nar": "'executable' marker with value 'x'",
            "nar/bad/trailing.nar": "trailing bytes",
        ]
        #expect(expected[vector.file] != nil, "no expectation for \(vector.file)")
        expectRejected(bytes, expected[vector.file])
    }

    @Test func readerStopsRightAfterTheRootNode() throws {
        // formats.md §3.3: embedded NARs leave what follows unread.
        let nar = try NARTestVectors.bytes("nar/regular-one-byte-zero-padding.nar")
        let trailer: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
        let reader = NARReader(source: TrickleSource(nar + trailer, step: 1000))
        var validator = NARValidator()
        try reader.read(into: &validator)
        #expect(reader.offset == UInt64(nar.count))
        #expect(reader.source.inner.remaining == trailer.count)
        // trailing.nar is a good NAR plus junk: a stream reader accepts the prefix.
        let trailing = try NARTestVectors.bytes("nar/bad/trailing.nar")
        let streamed = NARReader(source: ByteArraySource(trailing))
        try streamed.read(into: &validator)
        #expect(streamed.source.remaining == 8)
    }

    @Test func singleFileNARs() throws {
        #expect(NAR.regularFile(Array("hello".utf8)).count == 120)
        #expect(NAR.regularFile(Array("hello".utf8), executable: true).count == 152)
        let hello = try NARTestVectors.bytes("nar/helloworld.nar")
        #expect(NAR.regularFile(Array("Hello World!".utf8)) == hello)
    }
}

@Suite("NAR byte sources", .tags(.small))
struct NARByteSourceTests {
    @Test(arguments: [1, 7, 64, 1 << 20])
    func bufferedSourceDeliversTheSameBytes(capacity: Int) throws {
        let nar = try NARTestVectors.bytes("nar/complicated.nar")
        let reader = NARReader(source: BufferedSource(TrickleSource(nar, step: 13), capacity: capacity), chunkSize: 16)
        var writer = NARWriter(sink: [UInt8]())
        try reader.read(into: &writer)
        #expect(writer.sink == nar)
    }
}
