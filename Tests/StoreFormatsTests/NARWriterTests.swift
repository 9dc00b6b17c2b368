import StoreFormats
import Testing

/// A file tree in memory, for property tests: names are bytes, entries kept sorted.
indirect enum TreeModel: Equatable {
    case file(executable: Bool, contents: [UInt8])
    case symlink([UInt8])
    case directory([(name: [UInt8], node: TreeModel)])

    static func == (lhs: TreeModel, rhs: TreeModel) -> Bool {
        switch (lhs, rhs) {
        case let (.file(e1, c1), .file(e2, c2)): e1 == e2 && c1 == c2
        case let (.symlink(t1), .symlink(t2)): t1 == t2
        case let (.directory(d1), .directory(d2)):
            d1.count == d2.count && zip(d1, d2).allSatisfy { $0.name == $1.name && $0.node == $1.node }
        default: false
        }
    }

    func emit<V: NARVisitor>(into visitor: inout V, chunk: Int = 7) throws {
        switch self {
        case let .file(executable, contents):
            try visitor.beginRegularFile(executable: executable, size: UInt64(contents.count))
            var start = 0
            while start < contents.count {
                let end = min(start + chunk, contents.count)
                try contents[start..<end].withUnsafeBytes { try visitor.contents($0) }
                start = end
            }
            try visitor.endRegularFile()
        case let .symlink(target): try visitor.symlink(target: target)
        case let .directory(entries):
            try visitor.beginDirectory()
            for entry in entries {
                try visitor.beginEntry(name: entry.name)
                try entry.node.emit(into: &visitor, chunk: chunk)
                try visitor.endEntry()
            }
            try visitor.endDirectory()
        }
    }

    static func random<G: RandomNumberGenerator>(_ g: inout G, depth: Int = 0) -> TreeModel {
        let roll = Int.random(in: 0..<10, using: &g)
        if depth < 4 && roll < 4 {
            var names = Set<[UInt8]>()
            for _ in 0..<Int.random(in: 0..<6, using: &g) { names.insert(randomName(&g)) }
            let sorted = names.sorted { $0.lexicographicallyPrecedes($1) }
            return .directory(sorted.map { ($0, random(&g, depth: depth + 1)) })
        }
        if roll < 6 {
            let target = (0..<Int.random(in: 1..<40, using: &g)).map { _ in UInt8.random(in: 1...255, using: &g) }
            return .symlink(target)
        }
        let size = [0, 1, 7, 8, 9, Int.random(in: 0..<5000, using: &g)].randomElement(using: &g)!
        return .file(executable: Bool.random(using: &g), contents: (0..<size).map { _ in UInt8.random(in: 0...255, using: &g) })
    }

    /// Names of 1–12 bytes without NUL or '/', sometimes not UTF-8, never "." or "..".
    static func randomName<G: RandomNumberGenerator>(_ g: inout G) -> [UInt8] {
        while true {
            let name = (0..<Int.random(in: 1...12, using: &g)).map { _ -> UInt8 in
                let b = UInt8.random(in: 1...255, using: &g)
                return b == 0x2F ? 0x5F : b
            }
            if name != [0x2E] && name != [0x2E, 0x2E] { return name }
        }
    }
}

/// Collects the events of a NAR back into a `TreeModel`.
struct TreeBuilder: NARVisitor {
    private var stack: [(name: [UInt8]?, entries: [(name: [UInt8], node: TreeModel)])] = []
    private var file: (executable: Bool, contents: [UInt8])?
    private var pendingName: [UInt8]?
    private(set) var root: TreeModel?

    private mutating func finish(_ node: TreeModel) {
        if stack.isEmpty { root = node } else { stack[stack.count - 1].entries.append((pendingName ?? [], node)) }
    }
    mutating func beginRegularFile(executable: Bool, size: UInt64) throws { file = (executable, []) }
    mutating func contents(_ chunk: UnsafeRawBufferPointer) throws { file?.contents += chunk }
    mutating func endRegularFile() throws {
        let f = file!
        file = nil
        finish(.file(executable: f.executable, contents: f.contents))
    }
    mutating func symlink(target: [UInt8]) throws { finish(.symlink(target)) }
    mutating func beginDirectory() throws { stack.append((pendingName, [])) }
    mutating func beginEntry(name: [UInt8]) throws { pendingName = name }
    mutating func endDirectory() throws {
        let done = stack.removeLast()
        pendingName = done.name
        finish(.directory(done.entries))
    }
}

@Suite("NAR writer", .tags(.small))
struct NARWriterTests {
    @Test(arguments: 0..<60)
    func randomTreeRoundTrip(seed: Int) throws {
        var g = SplitMix64(seed: UInt64(seed))
        let tree = TreeModel.random(&g)
        var writer = NARWriter(sink: [UInt8]())
        try tree.emit(into: &writer, chunk: Int.random(in: 1...5000, using: &g))
        #expect(writer.isComplete)
        let nar = writer.sink
        #expect(writer.bytesWritten == UInt64(nar.count))
        var builder = TreeBuilder()
        try NAR.parse(nar, into: &builder)
        #expect(builder.root == tree)
        #expect(try NAR.canonical(nar) == nar)
        let reader = NARReader(source: TrickleSource(nar, step: Int.random(in: 1...64, using: &g)), chunkSize: 64)
        var again = NARWriter(sink: [UInt8]())
        try reader.read(into: &again)
        #expect(again.sink == nar)
    }

    func refusal(_ body: (inout NARWriter<[UInt8]>) throws -> Void) -> String? {
        var writer = NARWriter(sink: [UInt8]())
        do {
            try body(&writer)
            return nil
        } catch let FormatError.invalidNAR(_, reason) {
            return reason
        } catch {
            return "\(error)"
        }
    }

    @Test func refusesNonCanonicalEventSequences() {
        let a = Array("a".utf8), b = Array("b".utf8)
        func file(_ w: inout NARWriter<[UInt8]>) throws {
            try w.beginRegularFile(executable: false, size: 0)
            try w.endRegularFile()
        }
        #expect(refusal { w in
            try w.beginDirectory()
            try w.beginEntry(name: b); try file(&w); try w.endEntry()
            try w.beginEntry(name: a)
        }?.contains("not in byte order") == true)
        #expect(refusal { w in
            try w.beginDirectory()
            try w.beginEntry(name: a); try file(&w); try w.endEntry()
            try w.beginEntry(name: a)
        }?.contains("two entries named 'a'") == true)
        for bad in [[], [0x2E], [0x2E, 0x2E], Array("a/b".utf8), [0x61, 0]] as [[UInt8]] {
            #expect(refusal { w in try w.beginDirectory(); try w.beginEntry(name: bad) }?.contains("invalid file name") == true)
        }
        #expect(refusal { w in try w.symlink(target: []) } == "empty symlink target")
        #expect(refusal { w in try w.symlink(target: [0x61, 0]) }?.contains("NUL") == true)
        #expect(refusal { w in
            try w.beginRegularFile(executable: false, size: 3)
            try [1, 2, 3, 4].withUnsafeBytes { try w.contents($0) }
        }?.contains("longer than the announced 3") == true)
        #expect(refusal { w in
            try w.beginRegularFile(executable: false, size: 3)
            try w.endRegularFile()
        }?.contains("shorter") == true)
        #expect(refusal { w in try w.beginDirectory(); try w.endEntry() } != nil)
        #expect(refusal { w in try w.beginDirectory(); try w.beginEntry(name: a); try w.endEntry() } != nil)
        #expect(refusal { w in try file(&w); try file(&w) } != nil)
        #expect(refusal { w in try w.endDirectory() } != nil)
        #expect(refusal { w in
            for _ in 0...NAR.maxDepth { try w.beginDirectory(); try w.beginEntry(name: a) }
            try w.beginDirectory()
            try w.beginEntry(name: a)
        }?.contains("nested deeper") == true)
    }
}
