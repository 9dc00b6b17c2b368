import Testing
@testable import StoreFormats

/// The s-expression reader: advanced and canonical forms agree, canonical rendering is what
/// libgcrypt reads, malformed and oversize input is refused with an offset.
@Suite(.tags(.small))
struct SExpressionTests {
    @Test func advancedAndCanonicalFormsAgree() throws {
        let advanced = try SExpression(parsing: "(public-key (ecc (curve Ed25519) (q #8D156F295D24B0D9A86FA5741A840FF2D24F60F7B6C4134814AD55625971B394#)))")
        let canonical = advanced.canonical
        #expect(String(decoding: canonical.prefix(30), as: UTF8.self) == "(10:public-key(3:ecc(5:curve7:")
        #expect(try SExpression(parsing: canonical) == advanced)
        #expect(advanced.value("curve") == Array("Ed25519".utf8))
        #expect(advanced.value("q")?.count == 32)
        #expect(advanced.find("ecc")?.head == Array("ecc".utf8))
        #expect(advanced.find("nothing") == nil)
        #expect(try SExpression(parsing: advanced.description) == advanced)
    }

    @Test func readsEveryAtomSpelling() throws {
        let expression = try SExpression(parsing: #"(x "a\"b\n\x41\101" #41 42# |QUI=| 3:a)b token-1.2)"#)
        let atoms = try #require(expression.elements).compactMap(\.atomBytes)
        #expect(atoms == [Array("x".utf8), Array("a\"b\nAA".utf8), [0x41, 0x42], [0x41, 0x42], Array("a)b".utf8), Array("token-1.2".utf8)])
        #expect(try SExpression(parsing: "()") == .list([]))
        #expect(try SExpression(parsing: " \n(0:)\t") == .list([.atom([])]))
    }

    @Test(arguments: [
        "", "x", "(", ")", "(a))", "(a) (b)", "(a", "(#414#)", "(#4G#)", "(\"abc)", "(\"\\q\")", "(|QUI|)",
        "(5:abc)", "(05:abcde)", "(3abc)", "([hint]x)", "(1a)", "({x})", "(\"\\x4\")", "(\"\\777\")",
        "(99999999999999999999999:x)",
    ])
    func rejectsMalformed(_ text: String) throws {
        let error = try #require(throws: FormatError.self) { try SExpression(parsing: text) }
        guard case .invalidSExpression = error else {
            Issue.record("\(error)")
            return
        }
    }

    @Test func limitsDepthAndSize() throws {
        let deep = String(repeating: "(", count: SExpression.maxDepth + 1) + String(repeating: ")", count: SExpression.maxDepth + 1)
        #expect(throws: FormatError.self) { try SExpression(parsing: deep) }
        let fine = String(repeating: "(", count: SExpression.maxDepth) + String(repeating: ")", count: SExpression.maxDepth)
        #expect(throws: Never.self) { try SExpression(parsing: fine) }
        let big = [UInt8]("(".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: SExpression.maxInputSize) + [UInt8](")".utf8)
        #expect(throws: FormatError.invalidSExpression(offset: 0, reason: "\(big.count) bytes, the limit is \(SExpression.maxInputSize)")) {
            try SExpression(parsing: big)
        }
    }

    /// Property: canonical rendering of random trees parses back to the same tree.
    @Test func randomTreesRoundTrip() throws {
        var rng = SplitMix64(seed: 99)
        func tree(_ depth: Int) -> SExpression {
            if depth > 4 || Int.random(in: 0..<3, using: &rng) == 0 {
                return .atom((0..<Int.random(in: 0..<12, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) })
            }
            return .list((0..<Int.random(in: 0..<5, using: &rng)).map { _ in tree(depth + 1) })
        }
        for _ in 0..<300 {
            let value = SExpression.list([tree(1), tree(1)])
            #expect(try SExpression(parsing: value.canonical) == value)
            #expect(try SExpression(parsing: value.description) == value)
        }
    }
}
