import Testing
import Foundation
import Glibc
import StoreFormats
import WorkerProtocol

/// Nix 2.8's per-item lines, at talkative (4, the client's `-v`): during verify with contents
/// `checking contents of '<name>'` for each `.links` entry (after `checking link hashes...`)
/// and `checking contents of '<path>'` for each valid path (after `checking store hashes...`);
/// during optimise `loaded N hash inodes` (the entries nix-daemon's readdir returns, `.` and
/// `..` included) and `linking '<file>' to '<store>/.links/<key>'` for a file replaced by a
/// link to an existing entry; during a collection `deleting unused link '<store>/.links/<key>'`.
/// A client at info (3) gets none of them, nor does a Guix client at any verbosity (guix-daemon's
/// lines are not this task's). `NixDaemonComparisonTests` shows nix-daemon sends the same.
@Suite(.serialized, .tags(.large)) final class TalkativeLinesTests {
    let scratch: TemporaryDaemon
    let store: StoreDirectory

    init() throws {
        // Deduplication only on optimise, as nix-daemon's default: the optimise has work.
        scratch = try TemporaryDaemon(label: "talkative", arguments: ["--disable-deduplication"])
        store = try StoreDirectory(scratch.root + "/store")
    }

    func client(_ version: ProtocolVersion = .nix28, verbosity: UInt64) throws -> WorkerClient {
        try scratch.client(version, verbosity: verbosity)
    }

    /// The message lines `request` brings (activities aside).
    func lines(_ c: WorkerClient, _ request: WorkerRequest) throws -> [String] {
        var lines: [String] = []
        c.onLog = { if case .next(let bytes) = $0 { lines.append(String(decoding: bytes, as: UTF8.self)) } }
        try c.call(request)
        return lines
    }

    /// The lines of `--delete` of `paths`, retried while an adder's worker (a temp root) is
    /// still exiting.
    func deletionLines(_ c: WorkerClient, _ paths: [StorePath]) throws -> [String] {
        for _ in 0..<250 {
            do {
                return try lines(c, .collectGarbage(action: 3, paths: paths, ignoreLiveness: false, maxFreed: 0))
            } catch WorkerProtocolError.remote(let message, _) where message.contains("still alive") {
                usleep(20_000)
            }
        }
        return try lines(c, .collectGarbage(action: 3, paths: paths, ignoreLiveness: false, maxFreed: 0))
    }

    @Test func perItemLinesAtTalkativeOnly() throws {
        // Two text paths with the same 9 KiB (above the 8 KiB deduplication threshold): the
        // first optimise makes one the `.links` entry and links the other to it.
        let contents = Array(String(repeating: "talk", count: 2_304).utf8)
        let key = Hasher.hash(.sha256, NAR.regularFile(contents)).nix32
        let links = store.path + "/.links"
        var added: [StorePath] = []
        do {
            // Added in a session of their own, which ends: its temp roots go with its worker.
            let adder = try client(verbosity: 0)
            for name in ["talk-a", "talk-b"] { added.append(try adder.addTextToStore(name: name, text: contents)) }
        }

        #expect(try lines(try client(verbosity: 3), .optimiseStore).count == 1, "only the total at info")
        // The first optimise linked them already; a new copy for the talkative one.
        let third = try client(verbosity: 0).addTextToStore(name: "talk-c", text: contents)
        let optimise = try lines(try client(verbosity: 4), .optimiseStore)
        #expect(optimise.first == "loaded 3 hash inodes\n")
        #expect(optimise.dropFirst().first == "linking '\(third.absolute(in: store))' to '\(links)/\(key)'\n")
        #expect(optimise.count == 3 && optimise.last?.hasSuffix(" MiB freed by hard-linking 1 files\n") == true)

        let all = (added + [third]).map { "checking contents of '\($0.absolute(in: store))'\n" }
        let info = ["reading the Nix store...\n", "checking path existence...\n", "checking link hashes...\n", "checking store hashes...\n"]
        #expect(try lines(try client(verbosity: 3), .verifyStore(checkContents: true, repair: false)) == info)
        let verify = try lines(try client(verbosity: 4), .verifyStore(checkContents: true, repair: false))
        try #require(verify.count == 8, "\(verify)")
        #expect(Array(verify[0...2]) == Array(info[0...2]))
        #expect(verify[3] == "checking contents of '\(key)'\n")
        #expect(verify[4] == info[3])
        #expect(Set(verify[5...]) == Set(all))
        // guix-daemon's lines stay as they were, whatever a Guix client's verbosity.
        let guix = try lines(try client(.guix, verbosity: 5), .verifyStore(checkContents: true, repair: false))
        #expect(!guix.contains { $0.hasPrefix("checking contents of") }, "\(guix)")

        // Deleting every user of the entry leaves it unused: named at talkative only.
        let doomed = added + [third]
        let gc = try deletionLines(try client(verbosity: 4), doomed)
        let unused = "deleting unused link '\(links)/\(key)'\n"
        #expect(gc.contains(unused), "\(gc)")
        if let at = gc.firstIndex(of: unused) {
            #expect(gc[at - 1] == "deleting unused links...\n")
            #expect(gc[at + 1].hasPrefix("note: currently hard linking saves "))
        }
    }

    @Test func unusedLinksUnsaidAtInfo() throws {
        let contents = Array(String(repeating: "info", count: 2_304).utf8)
        var added: [StorePath] = []
        do {
            let adder = try client(verbosity: 0)
            for name in ["info-a", "info-b"] { added.append(try adder.addTextToStore(name: name, text: contents)) }
        }
        _ = try lines(try client(verbosity: 0), .optimiseStore)
        #expect(access(store.path + "/.links/" + Hasher.hash(.sha256, NAR.regularFile(contents)).nix32, F_OK) == 0)
        let gc = try deletionLines(try client(verbosity: 3), added)
        #expect(gc.contains("deleting unused links...\n"))
        #expect(!gc.contains { $0.hasPrefix("deleting unused link '") }, "\(gc)")
        #expect(access(store.path + "/.links/" + Hasher.hash(.sha256, NAR.regularFile(contents)).nix32, F_OK) != 0, "removed all the same")
    }
}
