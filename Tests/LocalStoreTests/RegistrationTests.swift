import Testing
import Glibc
import StoreFormats
@testable import LocalStore

@Suite(.tags(.medium)) struct RegistrationTests {
    @Test func openCreatesLayoutAndSchemaFile() throws {
        let t = try TestStore()
        _ = try t.open()
        #expect(shell("cat '\(t.root)/state/db/schema'") == "7")
        for dir in ["store", "store/.links", "state/gcroots", "state/profiles", "state/temproots", "state/db/big-lock"] {
            #expect(access(t.root + "/" + dir, F_OK) == 0, "\(dir)")
        }
        #expect(shell("readlink '\(t.root)/state/gcroots/profiles'") == t.root + "/state/profiles\n")
        // A second open of the same store works (shared big-lock) and sees the same database.
        _ = try t.open()
    }

    @Test func newerSchemaIsRefused() throws {
        let t = try TestStore()
        _ = try t.open()
        shell("echo 8 > '\(t.root)/state/db/schema'")
        #expect(throws: LocalStoreError.self) { _ = try t.open() }
        shell("echo 6 > '\(t.root)/state/db/schema'")
        #expect(throws: LocalStoreError.self) { _ = try t.open() }
    }

    @Test func registerAndQuery() throws {
        let t = try TestStore()
        let store = try t.open()
        let lib = fakePath("lib"), app = fakePath("app"), drv = fakePath("app.drv")
        try store.registerValidPaths([
            fakeInfo(lib),
            fakeInfo(app, references: [lib, app], deriver: drv),
        ])
        #expect(try store.isValidPath(app))
        #expect(try !store.isValidPath(drv))
        let info = try #require(try store.queryPathInfo(app))
        #expect(info.references == [lib, app])
        #expect(info.deriver == drv)
        #expect(info.narSize == 120)
        #expect(info.narHash == Hasher.hash(.sha256, app.baseName))
        #expect(info.registrationTime > 1_700_000_000)
        #expect(try store.queryReferences(app) == [app, lib].sorted())
        #expect(try store.queryReferrers(lib) == [app])
        #expect(try store.queryDeriver(app) == drv)
        #expect(try store.queryRequisites([app]) == [app, lib])
        #expect(try store.queryPathFromHashPart(lib.hashPart) == lib)
        #expect(try store.queryPathFromHashPart(drv.hashPart) == nil)
        #expect(Set(try store.queryAllValidPaths()) == [lib, app])

        // The rows are the ones guix-daemon would write.
        let db = t.root + "/state/db/db.sqlite"
        let row = shell("sqlite3 '\(db)' \"select path, hash, deriver, narSize from ValidPaths where path like '%-app'\"")
        #expect(row == "\(app.absolute(in: store.storeDirectory))|sha256:\(Hasher.hash(.sha256, app.baseName).base16)|\(drv.absolute(in: store.storeDirectory))|120\n")
    }

    @Test func unknownReferenceRollsBackEverything() throws {
        let t = try TestStore()
        let store = try t.open()
        let a = fakePath("a"), missing = fakePath("missing")
        #expect(throws: LocalStoreError.self) { try store.registerValidPaths([fakeInfo(a), fakeInfo(fakePath("b"), references: [missing])]) }
        #expect(try !store.isValidPath(a))
    }

    @Test func referenceCycleIsRefused() throws {
        let t = try TestStore()
        let store = try t.open()
        let a = fakePath("a"), b = fakePath("b")
        #expect(throws: LocalStoreError.self) { try store.registerValidPaths([fakeInfo(a, references: [b]), fakeInfo(b, references: [a])]) }
        #expect(try !store.isValidPath(a))
    }

    @Test func derivationOutputsAreRecordedAndChecked() throws {
        let t = try TestStore()
        let store = try t.open()
        let s = store.storeDirectory
        let (text, outputs) = try makeDerivation("hello", outputs: ["dev", "out"], in: s)
        let drv = try store.addTextToStore(name: "hello.drv", contents: text)
        let got = try store.queryDerivationOutputs(drv)
        #expect(got.map(\.id) == ["dev", "out"])
        #expect(got.map(\.path) == [outputs["dev"]!, outputs["out"]!])
        let out = try #require(outputs["out"])
        #expect(try store.queryValidDerivers(out) == [drv])
        try store.registerValidPaths([fakeInfo(out, deriver: drv)])
        #expect(try store.queryRequisites([drv], includeOutputs: true) == [drv, out])

        // A .drv whose output path is not the one its contents imply is refused.
        let forged = String(decoding: text, as: UTF8.self).replacingOccurrences(of: out.hashPart, with: fakePath("x").hashPart)
        #expect(throws: LocalStoreError.self) { try store.addTextToStore(name: "hello.drv", contents: Array(forged.utf8)) }
        #expect(try store.queryAllValidPaths().count == 2)
    }

    @Test func derivationsAboveTheSizeLimitAreRefusedUnread() throws {
        let t = try TestStore()
        let s = try t.open().storeDirectory
        let (text, _) = try makeDerivation("hello", in: s)
        // Exactly at the limit: accepted.
        let exact = try t.open { $0.derivationSizeLimit = UInt64(text.count) }
        let drv = try exact.addTextToStore(name: "hello.drv", contents: text)
        #expect(try exact.queryDerivationOutputs(drv).map(\.id) == ["out"])
        // Reading it back for a build (Builder, daemon) obeys the same limit.
        #expect(try exact.readDerivationFile(drv) == text)
        let lower = try t.open { $0.derivationSizeLimit = UInt64(text.count - 1) }
        #expect(throws: LocalStoreError.self) { try lower.readDerivationFile(drv) }
        // One byte over (a longer name in the environment): refused with the sizes, nothing registered.
        let (bigger, _) = try makeDerivation("hello-bigger", in: s)
        let small = try t.open { $0.derivationSizeLimit = UInt64(bigger.count - 1) }
        let error = #expect(throws: LocalStoreError.self) { try small.addTextToStore(name: "hello-bigger.drv", contents: bigger) }
        let message = error.map { "\($0)" } ?? ""
        #expect(message.hasPrefix("derivation `\(s.path)/"), "\(message)")
        #expect(message.hasSuffix("-hello-bigger.drv' is \(bigger.count) bytes, larger than the limit of \(bigger.count - 1) bytes"), "\(message)")
        #expect(try small.queryAllValidPaths() == [drv])
        #expect(shell("ls -A '\(t.root)/store' | grep -v '\\.lock$' | grep -c hello-bigger") == nil)
    }

    @Test func invalidateRefusesWhileReferred() throws {
        let t = try TestStore()
        let store = try t.open()
        let lib = fakePath("lib"), app = fakePath("app")
        try store.registerValidPaths([fakeInfo(lib, references: [lib]), fakeInfo(app, references: [lib, app])])
        #expect(throws: LocalStoreError.self) { try store.invalidatePath(lib) }
        try store.invalidatePath(app)  // self-reference does not block (the trigger drops it)
        try store.invalidatePath(lib)
        #expect(try store.queryAllValidPaths().isEmpty)
    }

    @Test func reRegisteringUpdatesHashAndSize() throws {
        let t = try TestStore()
        let store = try t.open()
        let p = fakePath("p")
        try store.registerValidPath(fakeInfo(p))
        var info = fakeInfo(p)
        info.narSize = 999
        info.narHash = Hasher.hash(.sha256, "other")
        try store.registerValidPath(info)
        let got = try #require(try store.queryPathInfo(p))
        #expect(got.narSize == 999 && got.narHash == info.narHash)
    }

    @Test func failedPaths() throws {
        let t = try TestStore()
        let store = try t.open()
        let p = fakePath("broken")
        try store.addFailedPath(p)
        #expect(try store.hasFailedPath(p))
        #expect(try store.queryFailedPaths() == [p.absolute(in: store.storeDirectory)])
        try store.clearFailedPaths([p.absolute(in: store.storeDirectory)])
        #expect(try !store.hasFailedPath(p))
    }
}
