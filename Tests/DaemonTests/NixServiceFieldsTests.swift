import Testing
import Foundation
import Glibc
import StoreFormats
import WorkerProtocol
import LocalStore
@testable import Daemon

/// LocalStoreService's Nix-only behaviour over a real store in a temp directory: FindRoots'
/// temp roots and their censoring for untrusted clients (Nix 2.8 gc.cc), AddSignatures kept
/// across queries, the recomputed content address, and that a Guix session sees none of it.
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
}
