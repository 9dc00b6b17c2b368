/// SEC-06 and security.md §3.1 through the store's own entry points (add-to-store recursive and
/// flat, import with known info): every hostile NAR — each file of vectors/nar/bad, plus
/// hand-built ones (a symlink out of the tree followed by an entry of the same name "through"
/// it, path-traversal names, huge or overflowing lengths, bad symlink targets, deep nesting) — is
/// refused; afterwards nothing is registered, the store holds nothing but `.links`, and nothing
/// appeared outside it (a canary directory the symlinks point at stays empty and unchanged).
import Testing
import Glibc
import StoreFormats
import LinuxSystem
@testable import LocalStore

/// Hand-built NAR bytes, including ones NARWriter refuses to produce.
enum HostileNAR {
    static func string(_ bytes: [UInt8]) -> [UInt8] {
        var out = withUnsafeBytes(of: UInt64(bytes.count).littleEndian, Array.init) + bytes
        while out.count % 8 != 0 { out.append(0) }
        return out
    }
    static func tokens(_ words: String...) -> [UInt8] { words.flatMap { string(Array($0.utf8)) } }
    /// A length prefix alone (for lengths that lie).
    static func length(_ n: UInt64) -> [UInt8] { withUnsafeBytes(of: n.littleEndian, Array.init) }

    static func file(_ contents: String) -> [UInt8] {
        tokens("(", "type", "regular", "contents") + string(Array(contents.utf8)) + tokens(")")
    }
    static func symlink(_ target: [UInt8]) -> [UInt8] {
        tokens("(", "type", "symlink", "target") + string(target) + tokens(")")
    }
    static func entry(_ name: [UInt8], _ node: [UInt8]) -> [UInt8] {
        tokens("entry", "(", "name") + string(name) + tokens("node") + node + tokens(")")
    }
    static func directory(_ entries: [UInt8]...) -> [UInt8] {
        tokens("(", "type", "directory") + entries.flatMap { $0 } + tokens(")")
    }
    static func nar(_ root: [UInt8]) -> [UInt8] { tokens("nix-archive-1") + root }

    /// The constructed cases, by name; `canary` is an absolute directory outside the store.
    static func cases(canary: String) -> [(String, [UInt8])] {
        let out = Array(canary.utf8)
        let dirWithF = directory(entry(Array("f".utf8), file("pwned")))
        var deep = file("bottom")
        for _ in 0..<300 { deep = directory(entry(Array("d".utf8), deep)) }
        return [
            // SEC-06 (a): symlink x → canary, then a directory x holding f.
            ("symlink then same-named directory", nar(directory(entry(Array("x".utf8), symlink(out)), entry(Array("x".utf8), dirWithF)))),
            ("symlink then same-named file", nar(directory(entry(Array("x".utf8), symlink(out + Array("/f".utf8))), entry(Array("x".utf8), file("pwned"))))),
            ("directory through symlink name x/f", nar(directory(entry(Array("x".utf8), symlink(out)), entry(Array("x/f".utf8), file("pwned"))))),
            ("entry named ..", nar(directory(entry(Array("..".utf8), dirWithF)))),
            ("absolute entry name", nar(directory(entry(Array("/tmp/pwned".utf8), file("pwned"))))),
            ("entry name with NUL", nar(directory(entry([0x61, 0, 0x62], file("x"))))),
            ("entry name of 256 bytes", nar(directory(entry([UInt8](repeating: 0x61, count: 256), file("x"))))),
            ("unsorted b, a", nar(directory(entry(Array("b".utf8), file("1")), entry(Array("a".utf8), file("2"))))),
            ("duplicate a, a", nar(directory(entry(Array("a".utf8), file("1")), entry(Array("a".utf8), file("2"))))),
            ("empty symlink target", nar(symlink([]))),
            ("symlink target with NUL", nar(symlink(out + [0] + Array("x".utf8)))),
            ("symlink target of 4096 bytes", nar(symlink([UInt8](repeating: 0x61, count: 4096)))),
            // Spec (security.md §3.1, formats.md limits) says 64; StoreFormats deliberately bounds at
            // NAR.maxDepth = 256 (see NARFormat.swift). Past that bound it must refuse.
            ("nesting of 300 directories", nar(deep)),
            // Lengths that lie: contents far larger than the input, overflowing prefixes.
            ("contents of 2^62 bytes, 16 given", tokens("nix-archive-1", "(", "type", "regular", "contents") + length(1 << 62) + [UInt8](repeating: 0x41, count: 16)),
            ("contents of 2^64-1 bytes", tokens("nix-archive-1", "(", "type", "regular", "contents") + length(.max) + [UInt8](repeating: 0x41, count: 16)),
            ("contents of 2^64-8 bytes", tokens("nix-archive-1", "(", "type", "regular", "contents") + length(.max - 7)),
            ("tag of 2^63 bytes", tokens("nix-archive-1", "(") + length(1 << 63) + tokens("type")),
            ("name of 2^40 bytes", tokens("nix-archive-1", "(", "type", "directory", "entry", "(", "name") + length(1 << 40)),
            ("symlink target of 2^64-8 bytes", tokens("nix-archive-1", "(", "type", "symlink", "target") + length(.max - 7)),
            ("wrong magic", tokens("nix-archive-2") + file("x")),
            ("nothing", []),
            ("unknown node type", nar(tokens("(", "type", "fifo", ")"))),
            ("executable with a value", nar(tokens("(", "type", "regular", "executable", "1", "contents") + string([0x41]) + tokens(")"))),
            ("truncated inside a directory", Array(nar(dirWithF).dropLast(16))),
        ]
    }
}

@Suite(.tags(.medium)) struct HostileNARTests {
    /// Byte source that counts what the store consumed.
    final class CountingSource: NARByteSource {
        var inner: ByteArraySource
        init(_ bytes: [UInt8]) { inner = ByteArraySource(bytes) }
        func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int { try inner.read(into: buffer) }
    }

    struct Scene {
        let t: TestStore
        let store: LocalStore
        let canary: String
        let before: [String]

        init() throws {
            t = try TestStore()
            store = try t.open()
            canary = t.root + "/canary.d"
            makeDirectories(canary)
            before = listDirectory(t.root).sorted()
        }

        /// Nothing registered, nothing but `.links` in the store, canary empty, nothing new beside.
        func expectUntouched(_ label: String) throws {
            #expect(try store.queryAllValidPaths().isEmpty, "\(label): something registered")
            #expect(listDirectory(t.root + "/store") == [".links"], "\(label): store holds \(listDirectory(t.root + "/store"))")
            #expect(listDirectory(t.root + "/store/.links") == [], "\(label)")
            #expect(listDirectory(canary) == [], "\(label): canary written")
            #expect(listDirectory(t.root).sorted() == before, "\(label): new entries beside the store")
            #expect(access("/tmp/pwned", F_OK) != 0, "\(label)")
        }
    }

    func attempts(_ store: LocalStore, _ nar: [UInt8]) -> [(String, () throws -> Void)] {
        let info = ValidPathInfo(path: fakePath("imported"), narHash: Hasher.hash(.sha256, nar), narSize: UInt64(nar.count))
        return [
            ("recursive", { _ = try store.addToStore(nar: CountingSource(nar), name: "evil", method: .recursive) }),
            ("recursive sha1", { _ = try store.addToStore(nar: CountingSource(nar), name: "evil", method: .recursive, hashAlgorithm: .sha1) }),
            ("flat", { _ = try store.addToStore(nar: CountingSource(nar), name: "evil", method: .flat) }),
            ("import", { try store.addToStore(info: info, nar: CountingSource(nar)) }),
        ]
    }

    @Test func badVectorsAreRefusedThroughEveryAddPath() throws {
        let scene = try Scene()
        let directory = NARTestVectorFiles.directory + "/nar/bad"
        let files = listDirectory(directory).filter { $0.hasSuffix(".nar") && $0 != "trailing.nar" }.sorted()
        try #require(files.count >= 14, "vectors missing in \(directory)")
        for file in files {
            let nar = try readFile(directory + "/" + file)
            for (how, attempt) in attempts(scene.store, nar) {
                #expect(throws: LocalStoreError.self, "\(file) via \(how)") { try attempt() }
            }
            try scene.expectUntouched(file)
        }
    }

    @Test func constructedHostileNARsAreRefused() throws {
        let scene = try Scene()
        for (label, nar) in HostileNAR.cases(canary: scene.canary) {
            for (how, attempt) in attempts(scene.store, nar) {
                #expect(throws: LocalStoreError.self, "\(label) via \(how)") { try attempt() }
            }
            try scene.expectUntouched(label)
        }
    }

    /// trailing.nar is a valid NAR followed by junk: the store must read exactly the NAR and
    /// leave the junk in the stream (the next worker-protocol field), not swallow it.
    @Test func trailingBytesAreLeftInTheStream() throws {
        let scene = try Scene()
        let nar = try readFile(NARTestVectorFiles.directory + "/nar/bad/trailing.nar")
        let source = CountingSource(nar)
        let path = try scene.store.addToStore(nar: source, name: "trailing", method: .recursive)
        #expect(source.inner.remaining == 8)
        let info = try #require(try scene.store.queryPathInfo(path))
        #expect(info.narSize == UInt64(nar.count - 8))
    }

    /// SEC-06 (d): whatever already sits at the destination name (an interrupted add's leftover, a
    /// planted symlink to the canary) is never written through; the add replaces it.
    @Test func existingDestinationIsNeverWrittenThrough() throws {
        let scene = try Scene()
        let store = scene.store
        var w = NARWriter(sink: [UInt8]())
        try w.beginDirectory()
        try w.beginEntry(name: Array("f".utf8))
        try w.beginRegularFile(executable: false, size: 5)
        try Array("hello".utf8).withUnsafeBytes { try w.contents($0) }
        try w.endRegularFile(); try w.endEntry(); try w.endDirectory()
        let nar = w.sink
        let expected = try store.storeDirectory.makeFixedOutputPath(method: .recursive, hash: Hasher.hash(.sha256, nar), name: "planted", rules: .nix)
        let abs = expected.absolute(in: store.storeDirectory)
        #expect(symlink(scene.canary, abs) == 0)
        let path = try store.addToStore(nar: ByteArraySource(nar), name: "planted", method: .recursive)
        #expect(path == expected)
        #expect(!isSymlink(abs))
        #expect(listDirectory(scene.canary) == [])
        #expect(shell("cat '\(abs)/f'") == "hello")
        var invariants = StoreInvariants(store)
        try invariants.checkValidPaths()
        #expect(invariants.problems == [])
    }
}
