import Testing
import Glibc
import StoreFormats
import LinuxSystem
@testable import LocalStore

/// A NAR of a directory: `bin/hello` (executable), `share/doc` (text), `link` → `bin/hello`.
func sampleTreeNAR(_ salt: String = "", bigFile: [UInt8]? = nil) throws -> [UInt8] {
    var w = NARWriter(sink: [UInt8]())
    try w.beginDirectory()
    try w.beginEntry(name: Array("bin".utf8)); try w.beginDirectory()
    try w.beginEntry(name: Array("hello".utf8))
    let script = Array("#!/bin/sh\necho hello\(salt)\n".utf8)
    try w.beginRegularFile(executable: true, size: UInt64(script.count))
    try script.withUnsafeBytes { try w.contents($0) }
    try w.endRegularFile(); try w.endEntry()
    try w.endDirectory(); try w.endEntry()
    if let bigFile {
        try w.beginEntry(name: Array("data".utf8))
        try w.beginRegularFile(executable: false, size: UInt64(bigFile.count))
        try bigFile.withUnsafeBytes { try w.contents($0) }
        try w.endRegularFile(); try w.endEntry()
    }
    try w.beginEntry(name: Array("link".utf8)); try w.symlink(target: Array("bin/hello".utf8)); try w.endEntry()
    try w.beginEntry(name: Array("share".utf8)); try w.beginDirectory()
    try w.beginEntry(name: Array("doc".utf8))
    let doc = Array("documentation\(salt)".utf8)
    try w.beginRegularFile(executable: false, size: UInt64(doc.count))
    try doc.withUnsafeBytes { try w.contents($0) }
    try w.endRegularFile(); try w.endEntry()
    try w.endDirectory(); try w.endEntry()
    try w.endDirectory()
    return w.sink
}

func statPath(_ path: String) -> stat? {
    var st = stat()
    return lstat(path, &st) == 0 ? st : nil
}

@Suite(.tags(.medium)) struct AddToStoreTests {
    @Test func addTextToStore() throws {
        let t = try TestStore()
        let store = try t.open()
        let dep = try store.addTextToStore(name: "dep", contents: Array("dependency".utf8))
        let text = Array("uses \(dep.absolute(in: store.storeDirectory))".utf8)
        let path = try store.addTextToStore(name: "user", contents: text, references: [dep])
        #expect(path == (try store.storeDirectory.makeTextPath(name: "user", contents: text, references: [dep], rules: .guix)))
        let abs = path.absolute(in: store.storeDirectory)
        #expect(shell("cat '\(abs)'") == String(decoding: text, as: UTF8.self))
        let st = try #require(statPath(abs))
        #expect(st.st_mode & 0o7777 == 0o444)
        #expect(st.st_mtim.tv_sec == 1)
        let info = try #require(try store.queryPathInfo(path))
        #expect(info.references == [dep])
        #expect(info.narHash == Hasher.hash(.sha256, NAR.regularFile(text)))
        #expect(info.narSize == UInt64(NAR.regularFile(text).count))
        // Adding again is a no-op that returns the same path.
        #expect(try store.addTextToStore(name: "user", contents: text, references: [dep]) == path)
        // No temporary entries are left behind.
        #expect(shell("ls -A '\(t.root)/store' | grep -c tmp") == nil)
    }

    @Test func addRecursiveNAR() throws {
        let t = try TestStore()
        let store = try t.open()
        let nar = try sampleTreeNAR()
        let path = try store.addToStore(nar: ByteArraySource(nar), name: "tree", method: .recursive)
        #expect(path == (try store.storeDirectory.makeFixedOutputPath(method: .recursive, hash: Hasher.hash(.sha256, nar), name: "tree", rules: .guix)))
        let abs = path.absolute(in: store.storeDirectory)
        #expect(statPath(abs)!.st_mode & 0o7777 == 0o555)
        #expect(statPath(abs + "/bin")!.st_mode & 0o7777 == 0o555)
        #expect(statPath(abs + "/bin/hello")!.st_mode & 0o7777 == 0o555)
        #expect(statPath(abs + "/share/doc")!.st_mode & 0o7777 == 0o444)
        #expect(shell("readlink '\(abs)/link'") == "bin/hello\n")
        for p in ["", "/bin", "/bin/hello", "/share", "/share/doc", "/link"] {
            #expect(statPath(abs + p)!.st_mtim.tv_sec == 1, "\(p)")
            #expect(statPath(abs + p)!.st_uid == geteuid())
        }
        // The restored tree dumps back to the very same NAR.
        let info = try #require(try store.queryPathInfo(path))
        #expect(info.narHash == Hasher.hash(.sha256, nar))
        let dumped = try StoreObjectDumper.narHash(in: store.storeFD, name: Array(path.baseName.utf8))
        #expect(dumped.hash == info.narHash && dumped.size == UInt64(nar.count))
        // nix-store agrees on the NAR hash of what we wrote.
        if access("/usr/bin/nix-hash", X_OK) == 0 {
            #expect(shell("nix-hash --type sha256 '\(abs)'") == info.narHash.base16 + "\n")
        }
    }

    @Test func addFlatAndOtherAlgorithms() throws {
        let t = try TestStore()
        let store = try t.open()
        let contents = Array("hello".utf8)
        let nar = NAR.regularFile(contents)
        let flat = try store.addToStore(nar: ByteArraySource(nar), name: "hello.txt", method: .flat)
        #expect(flat == (try store.storeDirectory.makeFixedOutputPath(method: .flat, hash: Hasher.hash(.sha256, contents), name: "hello.txt", rules: .guix)))
        let sha1 = try store.addToStore(nar: ByteArraySource(nar), name: "hello.txt", method: .recursive, hashAlgorithm: .sha1)
        #expect(sha1 == (try store.storeDirectory.makeFixedOutputPath(method: .recursive, hash: Hasher.hash(.sha1, nar), name: "hello.txt", rules: .guix)))
        #expect(try store.queryPathInfo(sha1)?.narHash == Hasher.hash(.sha256, nar))
        // Flat needs a single regular file.
        #expect(throws: LocalStoreError.self) { try store.addToStore(nar: ByteArraySource(try sampleTreeNAR()), name: "x", method: .flat) }
        #expect(shell("ls -A '\(t.root)/store' | grep -c tmp") == nil)
    }

    @Test func addWithKnownInfoChecksTheHash() throws {
        let t = try TestStore()
        let store = try t.open()
        let nar = try sampleTreeNAR("import")
        let path = fakePath("imported")
        let good = ValidPathInfo(path: path, narHash: Hasher.hash(.sha256, nar), narSize: UInt64(nar.count))
        var bad = good
        bad.narHash = Hasher.hash(.sha256, "wrong")
        #expect(throws: LocalStoreError.self) { try store.addToStore(info: bad, nar: ByteArraySource(nar)) }
        #expect(try !store.isValidPath(path))
        #expect(access(path.absolute(in: store.storeDirectory), F_OK) != 0)
        try store.addToStore(info: good, nar: ByteArraySource(nar))
        #expect(try store.isValidPath(path))
        try store.addToStore(info: good, nar: ByteArraySource(nar))  // valid: drained, no-op
    }

    @Test func repairReplacesAModifiedValidPath() throws {
        let t = try TestStore()
        let store = try t.open()
        let nar = try sampleTreeNAR("repair")
        let path = try store.addToStore(nar: ByteArraySource(nar), name: "tree", method: .recursive)
        let abs = path.absolute(in: store.storeDirectory)
        shell("chmod u+w '\(abs)/share' '\(abs)/share/doc' && echo corrupted > '\(abs)/share/doc'")
        #expect(try store.verifyStore(checkContents: true, repair: false).modifiedPaths == [path])
        // A plain add is a no-op on a valid path; a repairing add swaps in a good copy.
        _ = try store.addToStore(nar: ByteArraySource(nar), name: "tree", method: .recursive)
        #expect(try store.verifyStore(checkContents: true, repair: false).modifiedPaths == [path])
        _ = try store.addToStore(nar: ByteArraySource(nar), name: "tree", method: .recursive, repair: true)
        #expect(try store.verifyStore(checkContents: true, repair: false).problems.isEmpty)
        #expect(shell("ls -A '\(t.root)/store' | grep -c tmp") == nil)
    }

    @Test func hostileNARsLeaveNothing() throws {
        let t = try TestStore()
        let store = try t.open()
        // SEC-06 (b): entries out of order. Built by hand since the writer refuses it.
        func str(_ s: String) -> [UInt8] {
            let b = Array(s.utf8)
            var out = withUnsafeBytes(of: UInt64(b.count).littleEndian, Array.init) + b
            while out.count % 8 != 0 { out.append(0) }
            return out
        }
        func entry(_ name: String) -> [UInt8] {
            ["entry", "(", "name", name, "node", "(", "type", "regular", "contents"].flatMap(str) + str("x") + [")", ")"].flatMap(str)
        }
        let unsorted = ["nix-archive-1", "(", "type", "directory"].flatMap(str) + entry("b") + entry("a") + str(")")
        let duplicate = ["nix-archive-1", "(", "type", "directory"].flatMap(str) + entry("a") + entry("a") + str(")")
        for nar in [unsorted, duplicate] {
            #expect(throws: LocalStoreError.self) { try store.addToStore(nar: ByteArraySource(nar), name: "evil", method: .recursive) }
        }
        #expect(shell("ls -A '\(t.root)/store'") == ".links\n")
        #expect(try store.queryAllValidPaths().isEmpty)
    }

    @Test func deduplicationSharesInodes() throws {
        let t = try TestStore()
        let store = try t.open()
        let big = [UInt8](repeating: 0x61, count: 20_000)
        let a = try store.addToStore(nar: ByteArraySource(try sampleTreeNAR("a", bigFile: big)), name: "a", method: .recursive)
        let b = try store.addToStore(nar: ByteArraySource(try sampleTreeNAR("b", bigFile: big)), name: "b", method: .recursive)
        let fa = try #require(statPath(a.absolute(in: store.storeDirectory) + "/data"))
        let fb = try #require(statPath(b.absolute(in: store.storeDirectory) + "/data"))
        #expect(fa.st_ino == fb.st_ino)
        #expect(fa.st_nlink == 3)
        // The directories are still canonical after the rename inside them.
        let dir = try #require(statPath(b.absolute(in: store.storeDirectory)))
        #expect(dir.st_mode & 0o7777 == 0o555 && dir.st_mtim.tv_sec == 1)
        // Small files are not linked.
        let doc = try #require(statPath(b.absolute(in: store.storeDirectory) + "/share/doc"))
        #expect(doc.st_nlink == 1)
        // Contents still verify.
        for p in [a, b] {
            let d = try StoreObjectDumper.narHash(in: store.storeFD, name: Array(p.baseName.utf8))
            #expect(d.hash == (try store.queryPathInfo(p))?.narHash)
        }
    }

    @Test func deduplicationCanBeDisabled() throws {
        let t = try TestStore()
        let store = try t.open { $0.deduplicate = false }
        let big = [UInt8](repeating: 0x62, count: 20_000)
        let a = try store.addToStore(nar: ByteArraySource(try sampleTreeNAR("a", bigFile: big)), name: "a", method: .recursive)
        #expect(statPath(a.absolute(in: store.storeDirectory) + "/data")!.st_nlink == 1)
        #expect(shell("ls -A '\(t.root)/store/.links'") == "")
        // optimiseStore links afterwards.
        let b = try store.addToStore(nar: ByteArraySource(try sampleTreeNAR("b", bigFile: big)), name: "b", method: .recursive)
        let stats = try store.optimiseStore()
        #expect(stats.filesLinked == 1)
        #expect(statPath(a.absolute(in: store.storeDirectory) + "/data")!.st_ino == statPath(b.absolute(in: store.storeDirectory) + "/data")!.st_ino)
        // The paths it locked keep no `.lock` files (nor does an add).
        #expect(shell("ls -A '\(t.root)/store' | grep '\\.lock$'") == nil)
    }
}
