import Testing
import Foundation
import Glibc
import StoreFormats
import WorkerProtocol
import LocalStore
@testable import Daemon

/// LocalStoreService's Nix-only behaviour over a real store in a temp directory: FindRoots'
/// temp roots and their censoring for untrusted clients (Nix 2.8 gc.cc), AddSignatures kept
/// across queries, the recomputed content address, and that a Guix session sees none of it;
/// signature files go with their path (GC, `--delete`, invalidation) and AddSignatures leaves
/// no temporary file when it fails.
@Suite(.serialized, .tags(.medium)) final class NixServiceFieldsTests {
    let root: String
    let store: LocalStore

    init() throws {
        root = NSTemporaryDirectory() + "cloister-nixfields-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let layout = StoreLayout(storeDirectory: try StoreDirectory(root + "/store"), stateDirectory: root + "/state")
        store = try LocalStore(configuration: StoreConfiguration(layout: layout, nameRules: .nix, fsyncMetadata: false, reservedSpace: 0))
    }

    deinit {
        let rm = Process()
        rm.executableURL = URL(fileURLWithPath: "/bin/sh")
        rm.arguments = ["-c", "chmod -R u+w \"$0\" 2>/dev/null; rm -rf \"$0\"", root]
        try? rm.run()
        rm.waitUntilExit()
    }

    func service(_ dialect: Dialect) -> LocalStoreService {
        let service = LocalStoreService(store: store)
        service.sessionStarted(ActivityLog(dialect: dialect, receivesActivities: dialect == .nix, idBase: 0) { _ in })
        return service
    }

    @Test func tempRootsAreNamedAndCensored() throws {
        let path = try store.addTextToStore(name: "rooted", contents: Array("x".utf8))
        try store.addTempRoot(path)
        let trusted = try service(.nix).findRoots(censor: false)
        #expect(trusted.contains { $0.0 == "{temp:\(getpid())}" && $0.1 == path })
        let untrusted = try service(.nix).findRoots(censor: true)
        #expect(untrusted.contains { $0.0 == "{censored}" && $0.1 == path })
        #expect(!untrusted.contains { $0.0.hasPrefix("{temp:") || $0.0.hasPrefix("/proc/") })
        #expect(try service(.guix).findRoots(censor: false).isEmpty)
    }

    @Test func signaturesAndContentAddress() throws {
        let path = try store.addTextToStore(name: "signed", contents: Array("hello\n".utf8))
        let nix = service(.nix)
        let before = try #require(try nix.queryPathInfo(path))
        #expect(before.contentAddress == "text:sha256:" + Hasher.hash(.sha256, Array("hello\n".utf8)).nix32)
        #expect(before.signatures.isEmpty && !before.ultimate)
        try nix.addSignatures(path, ["k2:BBBB", "k1:AAAA"])
        try nix.addSignatures(path, ["k1:AAAA"])
        #expect(try nix.queryPathInfo(path)?.signatures == ["k1:AAAA", "k2:BBBB"])
        // A Guix session has no such fields.
        let guix = try #require(try service(.guix).queryPathInfo(path))
        #expect(guix.signatures.isEmpty && guix.contentAddress == nil)
    }

    /// Nix keeps the content address its adder claimed: an import claims none, so an imported
    /// content-addressed path shows none — until it is deleted and added again with its claim.
    @Test func anImportClaimsNoContentAddress() throws {
        let nix = service(.nix)
        let text = Array("moved\n".utf8)
        let path = try store.storeDirectory.makeTextPath(name: "moved", contentHash: Hasher.hash(.sha256, text), references: [])
        let nar = NAR.regularFile(text)
        let info = PathInfoRecord(path: path, narHash: Hasher.hash(.sha256, nar), references: [], narSize: UInt64(nar.count))
        try nix.addToStoreNar(info, source: MemoryStream(input: nar), repair: false, checkSignatures: false)
        #expect(try nix.queryPathInfo(path)?.contentAddress == nil)
        #expect(try signatureFileNames().contains(path.baseName + ".no-ca"))
        // The marker goes with the path; added again (with its claim), the address is back.
        _ = try store.collectGarbage(GCOptions(action: .deleteSpecific([path]), ignoreLiveness: true))
        #expect(try !signatureFileNames().contains(path.baseName + ".no-ca"))
        _ = try store.addTextToStore(name: "moved", contents: text)
        #expect(try nix.queryPathInfo(path)?.contentAddress == "text:sha256:" + Hasher.hash(.sha256, text).nix32)
    }

    var signaturesDirectory: String { root + "/state/signatures" }

    func signatureFileNames() throws -> Set<String> {
        Set(try FileManager.default.contentsOfDirectory(atPath: signaturesDirectory))
    }

    @Test func signatureFilesGoWithTheirPath() throws {
        let nix = service(.nix)
        let deleted = try store.addTextToStore(name: "deleted", contents: Array("1".utf8))
        let collected = try store.addTextToStore(name: "collected", contents: Array("2".utf8))
        let invalidated = try store.addTextToStore(name: "invalidated", contents: Array("3".utf8))
        let kept = try store.addTextToStore(name: "kept", contents: Array("4".utf8))
        for path in [deleted, collected, invalidated, kept] { try nix.addSignatures(path, ["k:AAAA"]) }
        // A temporary file an AddSignatures left when its process died.
        let leftover = collected.baseName + ".tmp-999999"
        #expect(FileManager.default.createFile(atPath: signaturesDirectory + "/" + leftover, contents: Data("x".utf8)))
        #expect(try signatureFileNames() == [deleted.baseName, collected.baseName, invalidated.baseName, kept.baseName, leftover])

        // (This process's temp roots keep the paths it added alive: delete them regardless.)
        _ = try store.collectGarbage(GCOptions(action: .deleteSpecific([deleted]), ignoreLiveness: true))
        #expect(try signatureFileNames() == [collected.baseName, invalidated.baseName, kept.baseName, leftover])
        _ = try store.collectGarbage(GCOptions(action: .deleteSpecific([collected]), ignoreLiveness: true, maxFreed: 1 << 30))
        #expect(try signatureFileNames() == [invalidated.baseName, kept.baseName])
        try store.invalidatePath(invalidated)
        #expect(try signatureFileNames() == [kept.baseName])
        #expect(try nix.queryPathInfo(kept)?.signatures == ["k:AAAA"])
        // Re-added, the path starts unsigned (the stamp guards what a removal missed).
        let again = try store.addTextToStore(name: "deleted", contents: Array("1".utf8))
        #expect(try nix.queryPathInfo(again)?.signatures == [])
    }

    @Test func failedAddSignaturesLeavesNoTemporaryFile() throws {
        let nix = service(.nix)
        let path = try store.addTextToStore(name: "blocked", contents: Array("4".utf8))
        // A directory where the file goes: the final rename fails.
        try FileManager.default.createDirectory(atPath: signaturesDirectory + "/" + path.baseName + "/x", withIntermediateDirectories: true)
        #expect(throws: (any Error).self) { try nix.addSignatures(path, ["k:AAAA"]) }
        #expect(try signatureFileNames() == [path.baseName])
    }
}
