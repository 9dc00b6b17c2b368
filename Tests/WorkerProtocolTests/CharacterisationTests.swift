import Testing
import StoreFormats
@testable import WorkerProtocol

/// Nix's characterisation files (vectors/worker-protocol/nix-unit-test-data): each decodes to
/// the listed values and re-encodes to the same bytes.
@Suite(.tags(.small)) struct CharacterisationTests {
    let dir = "worker-protocol/nix-unit-test-data/"
    let v16 = Negotiated(dialect: .nix, clientVersion: ProtocolVersion(0x110), daemonVersion: ProtocolVersion(0x110))
    let v15 = Negotiated(dialect: .nix, clientVersion: ProtocolVersion(0x10f), daemonVersion: ProtocolVersion(0x10f))

    func roundTrip(_ file: String, decode: (WireReader) throws -> Void, encode: (WireWriter) throws -> Void) throws {
        let bytes = try Vectors.data(dir + file)
        let reader = WireReader(MemoryStream(input: bytes, maxReadSize: 3))
        try decode(reader)
        #expect(try reader.atEnd(), "leftover bytes in \(file)")
        let out = MemoryStream()
        let writer = WireWriter(out)
        try encode(writer)
        try writer.flush()
        #expect(out.output == bytes, "\(file) does not re-encode identically")
    }

    @Test func strings() throws {
        var values: [String] = []
        try roundTrip("string.bin", decode: { r in
            for _ in 0..<5 { values.append(try r.readString("s", limit: 100)) }
        }, encode: { w in for s in values { try w.writeString(s) } })
        #expect(values == ["", "hi", "white rabbit", "大白兔", "oh no "])
    }

    @Test func storePaths() throws {
        var values: [StorePath] = []
        try roundTrip("store-path.bin", decode: { r in
            for _ in 0..<2 { values.append(try r.readStorePath(.nix)) }
        }, encode: { w in for p in values { try w.writeStorePath(p, .nix) } })
        #expect(values.map(\.name) == ["foo", "foo-bar"])
    }

    @Test func optionalStorePaths() throws {
        var values: [StorePath?] = []
        try roundTrip("optional-store-path.bin", decode: { r in
            for _ in 0..<2 { values.append(try r.readOptionalStorePath(.nix)) }
        }, encode: { w in for p in values { try w.writeOptionalStorePath(p, .nix) } })
        #expect(values.first! == nil && values.last!?.name == "foo-bar")
    }

    @Test func contentAddresses() throws {
        var values: [String] = []
        try roundTrip("content-address.bin", decode: { r in
            for _ in 0..<3 { values.append(try r.readShortString("ca")) }
        }, encode: { w in for s in values { try w.writeString(s) } })
        #expect(values[1] == "fixed:sha1:1amk6n7wxjlw4qkq6dcj6mm7hw3acrw0")
        for ca in ["fixed:sha1", "fixed:r:sha256"] { _ = try AddMethod(parsing: ca) }
    }

    @Test func optionalContentAddresses() throws {
        var values: [String] = []
        try roundTrip("optional-content-address.bin", decode: { r in
            for _ in 0..<2 { values.append(try r.readShortString("ca")) }
        }, encode: { w in for s in values { try w.writeString(s) } })
        #expect(values == ["", "fixed:sha1:1amk6n7wxjlw4qkq6dcj6mm7hw3acrw0"])
    }

    @Test(arguments: ["set.bin", "vector.bin"]) func lists(file: String) throws {
        var flat: [[String]] = []
        var nested: [[String]] = []
        try roundTrip(file, decode: { r in
            for _ in 0..<3 { flat.append(try r.readStrings("list")) }
            let n = try r.readCount("outer", limit: 10)
            for _ in 0..<n { nested.append(try r.readStrings("inner")) }
        }, encode: { w in
            for l in flat { try w.writeStrings(l) }
            try w.writeU64(UInt64(nested.count))
            for l in nested { try w.writeStrings(l) }
        })
        #expect(flat[2] == (file == "set.bin" ? ["", "bar", "foo"] : ["", "foo", "bar"]))
        #expect(nested[2] == ["", "1", "2"])
    }

    @Test(arguments: ["derived-path-1.29.bin", "derived-path-1.30.bin"]) func derivedPaths(file: String) throws {
        var values: [DerivedPath] = []
        let count = file.hasSuffix("1.29.bin") ? 3 : 4
        try roundTrip(file, decode: { r in
            for _ in 0..<count { values.append(try DerivedPath(parsing: try r.readShortString("dp"), .nix)) }
        }, encode: { w in for p in values { try w.writeString(p.render(.nix)) } })
        #expect(values.count == count)
    }

    @Test(arguments: [("valid-path-info-1.15.bin", 15), ("valid-path-info-1.16.bin", 16)])
    func pathInfos(file: String, minor: Int) throws {
        let v = minor == 15 ? v15 : v16
        var values: [PathInfoRecord] = []
        let count = minor == 15 ? 2 : 3
        try roundTrip(file, decode: { r in
            for _ in 0..<count { values.append(try PathInfoRecord.decode(from: r, v, .nix, withPath: true)) }
        }, encode: { w in for i in values { try i.encode(to: w, v, .nix, withPath: true) } })
        #expect(values[1].deriver?.name == "bar.drv")
        #expect(values[0].narSize == 34878 && values[0].registrationTime == 23423)
        if minor == 16 {
            #expect(values[1].signatures.count == 2)
            #expect(values[2].contentAddress == "fixed:r:sha256:1lr187v6dck1rjh2j6svpikcfz53wyl3qrlcbb405zlh13x0khhh")
        }
    }

    @Test func handshakeWords() throws {
        let bytes = try Vectors.data(dir + "handshake-to-client.bin")
        let r = WireReader(MemoryStream(input: bytes))
        #expect(try r.readU64() == Handshake.daemonMagic)
        let version = try r.readU64()
        let w = WireWriter(MemoryStream())
        try w.writeU64(Handshake.daemonMagic); try w.writeU64(version); try w.flush()
        #expect((w.sink as! MemoryStream).output == bytes)
        let info = try Vectors.data(dir + "client-handshake-info_1_33.bin")
        let r2 = WireReader(MemoryStream(input: info))
        #expect(try r2.readShortString("v") == "foo")
        #expect(try r2.readShortString("v") == "bar")
    }
}
