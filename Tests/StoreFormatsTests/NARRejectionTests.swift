import StoreFormats
import Testing

/// One test per bad-input class of security.md §3.1, on NARs built token by token.
@Suite("NAR rejection classes (security.md §3.1)", .tags(.small))
struct NARRejectionTests {
    let a = Array("a".utf8)
    let b = Array("b".utf8)

    @Test func wrongMagic() {
        var nar = RawNAR()
        nar.tokens("nix-archive-2")
        expectRejected(nar.bytes + RawNAR.file("x").bytes, "doesn't look like a Nix archive")
        expectRejected([], "unexpected end of input")
        expectRejected(Array(RawNAR.archive(.file("x")).prefix(12)), "unexpected end of input")
    }

    @Test func lengthPrefixNearTwoToTheSixtyFourIsRefusedWithoutAllocating() {
        for length: UInt64 in [.max, .max - 7, .max - 8, 1 << 63, 1 << 32, 17] {
            var nar = RawNAR()
            nar.integer(length)
            nar.bytes += [UInt8](repeating: 0x61, count: 64)
            expectRejected(nar.bytes, "exceeds the limit")
        }
        // Contents may be long, but a huge announced size only runs out of input.
        for size: UInt64 in [.max, .max - 7, 1 << 62] {
            var nar = RawNAR()
            nar.tokens("nix-archive-1", "(", "type", "regular", "contents")
            nar.integer(size)
            nar.bytes += [1, 2, 3]
            expectRejected(nar.bytes, "unexpected end of input")
        }
        var name = RawNAR()
        name.tokens("nix-archive-1", "(", "type", "directory", "entry", "(", "name")
        name.integer(.max - 7)
        expectRejected(name.bytes, "file name of 18446744073709551608 bytes exceeds the limit of 255")
        var target = RawNAR()
        target.tokens("nix-archive-1", "(", "type", "symlink", "target")
        target.integer(.max)
        expectRejected(target.bytes, "exceeds the limit of 4095")
    }

    @Test func nonZeroPadding() {
        var bytes = RawNAR.archive(.file("abc"))
        // The padding after "abc" begins 3 bytes into the last 8-byte slot before ")".
        let contentsSlot = bytes.count - 16 - 8
        bytes[contentsSlot + 5] = 1
        expectRejected(bytes, "non-zero padding")
        var tag = RawNAR.archive(.file("abc"))
        tag[8 + 13] = 0x20  // padding of the magic string
        expectRejected(tag, "non-zero padding")
    }

    @Test func truncatedContentsOrPadding() {
        let bytes = RawNAR.archive(.file("abcdefghij"))
        for cut in [bytes.count - 1, bytes.count - 16, bytes.count - 20, 100] {
            expectRejected(Array(bytes.prefix(cut)), "unexpected end of input")
        }
    }

    @Test func unknownTagOrType() {
        var type = RawNAR()
        type.tokens("(", "type", "fifo", ")")
        expectRejected(RawNAR.archive(type), "unknown node type 'fifo'")
        var tag = RawNAR()
        tag.tokens("(", "type", "regular", "AAAAAAAA", "x", ")")
        expectRejected(RawNAR.archive(tag), "expected tag 'contents'")
        var dir = RawNAR()
        dir.tokens("(", "type", "directory", "extra", ")")
        expectRejected(RawNAR.archive(dir), "expected tag 'entry' or ')'")
        var noType = RawNAR()
        noType.tokens("(", "kind", "regular", "contents", "", ")")
        expectRejected(RawNAR.archive(noType), "expected tag 'type'")
    }

    @Test func executableAfterContentsAndNameAfterNode() {
        var late = RawNAR()
        late.tokens("(", "type", "regular", "contents", "x", "executable", "", ")")
        expectRejected(RawNAR.archive(late), "expected tag ')', got 'executable'")
        var swapped = RawNAR()
        swapped.tokens("(", "type", "directory", "entry", "(", "node")
        swapped.bytes += RawNAR.file("x").bytes
        swapped.tokens("name", "a", ")", ")")
        expectRejected(RawNAR.archive(swapped), "expected tag 'name'")
    }

    @Test func executableWithValue() {
        var nar = RawNAR()
        nar.tokens("(", "type", "regular", "executable", "1", "contents", "x", ")")
        expectRejected(RawNAR.archive(nar), "'executable' marker with value '1'")
    }

    @Test(arguments: [
        ([UInt8](), "invalid file name ''"),
        (Array(".".utf8), "invalid file name '.'"),
        (Array("..".utf8), "invalid file name '..'"),
        (Array("x/y".utf8), "contains '/'"),
        (Array("/".utf8), "contains '/'"),
        ([0x61, 0x00, 0x62], "NUL"),
        ([UInt8](repeating: 0x61, count: 256), "exceeds the limit of 255"),
    ])
    func invalidEntryName(_ name: [UInt8], _ reason: String) {
        expectRejected(RawNAR.archive(.directory([(name, .file("x"))])), reason)
    }

    @Test func longestNameIsAccepted() throws {
        let name = [UInt8](repeating: 0x61, count: 255)
        try NAR.validate(RawNAR.archive(.directory([(name, .file("x"))])))
        try NAR.validate(RawNAR.archive(.directory([([0xFF, 0xFE], .file("x"))])))  // not UTF-8: fine
    }

    @Test func unsortedAndDuplicateEntries() throws {
        expectRejected(RawNAR.archive(.directory([(b, .file("1")), (a, .file("2"))])), "not sorted")
        expectRejected(RawNAR.archive(.directory([(a, .file("1")), (a, .file("2"))])), "two entries named 'a'")
        // Byte order, not locale order: "B" (0x42) sorts before "a" (0x61); 0xC3 after "z".
        try NAR.validate(RawNAR.archive(.directory([(Array("B".utf8), .file("1")), (a, .file("2")), ([0xC3, 0xA9], .file("3"))])))
        expectRejected(RawNAR.archive(.directory([(a, .file("1")), (Array("B".utf8), .file("2"))])), "not sorted")
        // A prefix sorts first.
        expectRejected(RawNAR.archive(.directory([(Array("ab".utf8), .file("1")), (a, .file("2"))])), "not sorted")
    }

    @Test func symlinkThenSameNamedDirectory() {
        var link = RawNAR()
        link.tokens("(", "type", "symlink", "target", "/etc", ")")
        let nar = RawNAR.archive(.directory([(a, link), (a, .directory([(Array("passwd".utf8), .file("x"))]))]))
        expectRejected(nar, "two entries named 'a'")
    }

    @Test(arguments: [
        ([UInt8](), "empty symlink target"),
        ([0x2F, 0x00, 0x61], "NUL"),
        ([UInt8](repeating: 0x61, count: 4096), "exceeds the limit of 4095"),
    ])
    func invalidSymlinkTarget(_ target: [UInt8], _ reason: String) {
        var link = RawNAR()
        link.tokens("(", "type", "symlink", "target")
        link.string(target)
        link.tokens(")")
        expectRejected(RawNAR.archive(link), reason)
    }

    @Test func longestSymlinkTargetIsAccepted() throws {
        var link = RawNAR()
        link.tokens("(", "type", "symlink", "target")
        link.string([UInt8](repeating: 0x61, count: 4095))
        link.tokens(")")
        try NAR.validate(RawNAR.archive(link))
    }

    static func nested(_ depth: Int) -> [UInt8] {
        var node = RawNAR.file("x")
        for _ in 0..<depth { node = .directory([(Array("d".utf8), node)]) }
        return RawNAR.archive(node)
    }

    @Test func nestingBeyondTheLimit() throws {
        try NAR.validate(Self.nested(NAR.maxDepth))
        expectRejected(Self.nested(NAR.maxDepth + 1), "nested deeper than \(NAR.maxDepth)")
        expectRejected(Self.nested(600), "nested deeper")
    }

    @Test func trailingBytesAfterTheRootNode() {
        expectRejected(RawNAR.archive(.file("x")) + [0, 0, 0, 0, 0, 0, 0, 0], "8 trailing bytes")
    }

    @Test func errorsCarryTheOffset() throws {
        let bytes = RawNAR.archive(.directory([(b, .file("1")), (a, .file("2"))]))
        do {
            try NAR.validate(bytes)
            Issue.record("accepted")
        } catch let FormatError.invalidNAR(offset, _) {
            // The second name's length prefix.
            let secondName = bytes.count - 8 - 8 - RawNAR.file("2").bytes.count - 16 - 16 - 16
            #expect(offset == UInt64(secondName))
        }
    }
}
