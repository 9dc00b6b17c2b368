import Testing
import Glibc
import StoreFormats
@testable import LocalStore

@Suite(.tags(.medium)) struct BuildOutputTests {
    @Test func registerABuiltOutput() throws {
        let t = try TestStore()
        let store = try t.open()
        let s = store.storeDirectory
        let dep = try store.addTextToStore(name: "dep", contents: Array("dep".utf8))
        let unrelated = try store.addTextToStore(name: "unrelated", contents: Array("x".utf8))
        let out = fakePath("hello")
        let dir = out.absolute(in: s)
        // What a builder leaves: writable dirs, an executable, a reference to dep and to itself.
        shell("mkdir -p '\(dir)/bin' && printf '#!%s\\n%s\\n' '\(dep.absolute(in: s))' '\(dir)' > '\(dir)/bin/run' && chmod 4775 '\(dir)/bin/run' && chmod 775 '\(dir)/bin'")
        try store.canonicalisePathMetaData(out)
        #expect(statPath(dir + "/bin/run")!.st_mode & 0o7777 == 0o555)
        #expect(statPath(dir + "/bin")!.st_mode & 0o7777 == 0o555)
        let scan = try store.scanForReferences(out, candidates: [dep, unrelated, out])
        #expect(scan.references == [dep, out])
        #expect(scan.narHash == (try store.computeNARHash(out)).hash)
        try store.registerValidPath(ValidPathInfo(path: out, narHash: scan.narHash, references: scan.references, narSize: scan.narSize))
        #expect(try store.verifyStore(checkContents: true, repair: false).problems.isEmpty)
        #expect(throws: LocalStoreError.self) { try store.deleteInvalidPath(out) }
    }

    @Test func deleteInvalidLeftover() throws {
        let t = try TestStore()
        let store = try t.open()
        let out = fakePath("failed")
        let dir = out.absolute(in: store.storeDirectory)
        shell("mkdir -p '\(dir)/a/b' && touch '\(dir)/a/b/c' && chmod -R 555 '\(dir)'")
        try store.deleteInvalidPath(out)
        #expect(access(dir, F_OK) != 0)
    }
}
