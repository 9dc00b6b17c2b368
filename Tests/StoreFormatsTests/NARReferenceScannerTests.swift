import StoreFormats
import Testing

@Suite("Reference scanning", .tags(.small))
struct NARReferenceScannerTests {
    static let alphabet = Array("0123456789abcdfghijklmnpqrsvwxyz".utf8)

    static func randomHashPart<G: RandomNumberGenerator>(_ g: inout G) -> String {
        String(decoding: (0..<32).map { _ in alphabet.randomElement(using: &g)! }, as: UTF8.self)
    }

    /// The obvious quadratic search, as the oracle.
    static func naive(_ haystack: [UInt8], _ parts: [String]) -> Set<String> {
        Set(parts.filter { part in
            let needle = Array(part.utf8)
            guard haystack.count >= needle.count else { return false }
            return (0...(haystack.count - needle.count)).contains { haystack[$0..<$0 + needle.count].elementsEqual(needle) }
        })
    }

    static func scan(_ bytes: [UInt8], _ parts: [String], chunkSizes: () -> Int) throws -> Set<String> {
        let scanner = try ReferenceScanner(hashParts: parts)
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + chunkSizes())
            bytes[start..<end].withUnsafeBytes { scanner.update($0) }
            start = end
        }
        return scanner.found
    }

    @Test func findsHashPartsInANARAcrossEveryChunkEdge() throws {
        let present = "1wcwacrb5q36hpsx1shk0dkm26hwbmqm"
        let absent = "0h40zg6hakjv951nyhdad7mv9za56m3z"
        let contents = Array("#!/bin/sh\nexec /gnu/store/\(present)-bash-5/bin/bash\n".utf8)
        let nar = NAR.regularFile(contents)
        for chunk in [1, 2, 3, 31, 32, 33, 64, 4096] {
            #expect(try Self.scan(nar, [present, absent], chunkSizes: { chunk }) == [present], "chunk \(chunk)")
        }
    }

    @Test(arguments: 0..<25)
    func agreesWithNaiveSearch(seed: Int) throws {
        var g = SplitMix64(seed: UInt64(seed) &+ 1000)
        let parts = (0..<8).map { _ in Self.randomHashPart(&g) }
        // Noise rich in nix32 characters so windows reach the table, plus planted parts and
        // near misses (a part with its last character changed).
        var bytes: [UInt8] = []
        for _ in 0..<40 {
            switch Int.random(in: 0..<4, using: &g) {
            case 0: bytes += (0..<Int.random(in: 0..<100, using: &g)).map { _ in UInt8.random(in: 0...255, using: &g) }
            case 1: bytes += (0..<Int.random(in: 0..<80, using: &g)).map { _ in Self.alphabet.randomElement(using: &g)! }
            case 2: bytes += Array(parts.randomElement(using: &g)!.utf8)
            default:
                var near = Array(parts.randomElement(using: &g)!.utf8)
                near[31] = near[31] == 0x30 ? 0x31 : 0x30
                bytes += near
            }
        }
        let expected = Self.naive(bytes, parts)
        #expect(try Self.scan(bytes, parts, chunkSizes: { 1 }) == expected)
        #expect(try Self.scan(bytes, parts, chunkSizes: { Int.random(in: 1...100, using: &g) }) == expected)
        #expect(try Self.scan(bytes, parts, chunkSizes: { bytes.count }) == expected)
    }

    @Test func overlappingAndAdjacentMatches() throws {
        let part = String(repeating: "a", count: 31) + "b"
        let other = "b" + String(repeating: "a", count: 31)
        let bytes = Array((String(repeating: "a", count: 40) + "b" + String(repeating: "a", count: 40)).utf8)
        #expect(try Self.scan(bytes, [part, other], chunkSizes: { 5 }) == [part, other])
    }

    @Test func refusesInvalidHashParts() {
        #expect(throws: FormatError.self) { try ReferenceScanner(hashParts: ["short"]) }
        #expect(throws: FormatError.self) { try ReferenceScanner(hashParts: [String(repeating: "e", count: 32)]) }
    }

    @Test func worksAsATeeSinkBesideAHasher() throws {
        let part = "0h40zg6hakjv951nyhdad7mv9za56m3z"
        let scanner = try ReferenceScanner(hashParts: [part])
        let hasher = Hasher(.sha256)
        var writer = NARWriter(sink: TeeSink(scanner, hasher))
        let tree = TreeModel.directory([(Array("a".utf8), .symlink(Array("/gnu/store/\(part)-x".utf8)))])
        try tree.emit(into: &writer)
        #expect(scanner.found == [part])
        #expect(hasher.count == writer.bytesWritten)
    }
}
