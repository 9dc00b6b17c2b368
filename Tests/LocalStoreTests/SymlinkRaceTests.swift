/// SEC-10 and SEC-27 (security.md rows 11 and 15): while the store deletes or canonicalises a
/// tree, a racer holding a directory fd inside it keeps exchanging a subdirectory with a symlink
/// to a victim directory outside the store, and a file with a symlink to a victim file. The
/// victim (owned by another uid when run as root) must keep every node, owner, mode and mtime.
///
/// - deletion: the GC's trash walk (`removeCounting`), LinuxSystem's `removeTree` (temporaries,
///   the trash itself), and whole collections removing an invalid store entry (a failed build's
///   leftover the attacker still holds an fd in);
/// - canonicalisation: `Canonicaliser` over a tree with foreign owners, 0777/0666 and setuid
///   modes (the chown, chmod and utimensat of §4.3).
///
/// Rounds are bounded by count, not time (10,000 each, as security.md asks;
/// `CLOISTER_RACE_ROUNDS` overrides); each round rebuilds the tree.
import Testing
import Glibc
import StoreFormats
import LinuxSystem
@testable import LocalStore

@Suite(.tags(.medium), .serialized) struct SymlinkRaceTests {
    static let pairs = [("sub", "evil"), ("file", "evilfile")]
    static let owner = Victim.owner
    /// `CLOISTER_RACE_ROUNDS` overrides the 10,000 rounds (for measuring).
    static let rounds = Int(environmentValue("CLOISTER_RACE_ROUNDS") ?? "") ?? 10_000
    static let racePath = (environmentValue("CLOISTER_RACE_OFF") ?? "").isEmpty ? "" : "/nonexistent"

    /// `parent/name/T/{sub/a, file, evil → victim, evilfile → victim/keep1}`; returns T. With
    /// `hostile`, everything is owned by the victim's uid, modes 0777/0666, and `sub/b` setuid.
    static func buildTree(in parent: FileDescriptor, _ name: String, victim: Victim, hostile: Bool) throws -> FileDescriptor {
        let top = Array(name.utf8)
        try parent.makeDirectory(at: top, mode: 0o755)
        let topFD = try parent.openDirectory(at: top)
        try topFD.makeDirectory(at: Array("T".utf8), mode: 0o755)
        let t = try topFD.openDirectory(at: "T")
        try t.makeDirectory(at: Array("sub".utf8), mode: 0o755)
        let sub = try t.openDirectory(at: "sub")
        try sub.writeFile("a", "a", mode: hostile ? 0o666 : 0o644)
        if hostile { try sub.writeFile("b", "b", mode: 0o4755) }
        try t.writeFile("file", "f", mode: hostile ? 0o666 : 0o644)
        try t.makeSymlink(at: Array("evil".utf8), target: Array(victim.path.utf8))
        try t.makeSymlink(at: Array("evilfile".utf8), target: Array((victim.path + "/keep1").utf8))
        if hostile {
            try sub.changeMode(0o777)
            try t.changeMode(0o777)
            if geteuid() == 0 {
                for (dir, names) in [(sub, ["a", "b"]), (t, ["sub", "file", "evil", "evilfile"]), (topFD, ["T"])] {
                    for name in names { try dir.changeOwner(at: Array(name.utf8), owner, owner) }
                }
                try parent.changeOwner(at: top, owner, owner)
                try sub.changeMode(at: Array("b".utf8), 0o4755)  // chown cleared the setuid bit
            }
        } else {
            try sub.changeMode(0o555)  // read-only like a store object: deletion must chmod, via its fd
        }
        return t
    }

    struct Workspace {
        let directory: TemporaryDirectory
        let victim: Victim
        init() throws {
            // tmpfs when there is one: thousands of rounds of mkdir/unlink, no journal to wait on.
            directory = try TemporaryDirectory(base: access("/dev/shm", W_OK) == 0 ? "/dev/shm" : nil)
            shell("chmod 755 '\(directory.path)'")
            victim = try Victim(in: directory.path)
        }
    }

    /// 10,000 rounds alternating the two deletion walks; the racer swaps by name inside `w/r/T`.
    @Test func deletionNeverFollowsASwappedSymlink() throws {
        let w = try Workspace()
        let area = try w.directory.descriptor.openDirectory(at: Array("w".utf8).withCreatedDirectory(in: w.directory.descriptor))
        let racer = try SymlinkRacer(pairs: Self.pairs, path: Self.racePath + w.directory.path + "/w/r/T")
        defer { racer.stop() }
        let name = Array("r".utf8)
        var interrupted = 0
        let started = monotonicSeconds()
        for round in 1...Self.rounds {
            _ = try Self.buildTree(in: area, "r", victim: w.victim, hostile: false)
            if round % 2 == 0 {
                _ = LocalStore.removeCounting(area, name)
            } else {
                try? area.removeTree(at: name)
            }
            if (try? area.status(at: name)) != nil {
                interrupted += 1
                // Clean what the racer made us skip; it may still be swapping, so retry.
                while (try? area.removeTree(at: name)) == nil {}
            }
            let changed = w.victim.changes()
            #expect(changed == [], "round \(round): victim changed")
            if !changed.isEmpty { break }
        }
        print("SEC-10 deletion: \(Self.rounds) rounds, \(racer.swaps.load(ordering: .relaxed)) swaps, \(interrupted) deletions cut short by the racer, \(Int((monotonicSeconds() - started) * 1000)) ms")
        #expect(racer.swaps.load(ordering: .relaxed) > 0)
    }

    /// A failed build's output left in the store (invalid) while its builder holds an fd inside:
    /// the collector moves it to the trash and deletes it; the victim survives.
    @Test func collectorDeletesInvalidEntriesSafely() throws {
        let w = try Workspace()
        let t = try TestStore()
        let store = try t.open()
        let racer = try SymlinkRacer(pairs: Self.pairs)
        defer { racer.stop() }
        for round in 1...300 {
            let leftover = fakePath("failed", seed: "\(round)")
            let tree = try Self.buildTree(in: store.storeFD, leftover.baseName, victim: w.victim, hostile: false)
            _ = try racer.race(round, in: tree) { try store.collectGarbage(GCOptions(action: .deleteDead)) }
            let changed = w.victim.changes()
            #expect(changed == [], "round \(round): victim changed")
            if !changed.isEmpty { break }
        }
        // Whatever the racer made the walk skip went to the trash; the next collection ends it.
        _ = try store.collectGarbage(GCOptions(action: .deleteDead))
        #expect(listDirectory(t.root + "/store").filter { !$0.hasSuffix(".lock") } == [".links"])
        #expect(w.victim.changes() == [])
    }

    /// 10,000 rounds of canonicalisation (chmod, chown, mtime) against the swaps in `w/c/T`.
    @Test func canonicalisationNeverFollowsASwappedSymlink() throws {
        let w = try Workspace()
        let area = try w.directory.descriptor.openDirectory(at: Array("w".utf8).withCreatedDirectory(in: w.directory.descriptor))
        let racer = try SymlinkRacer(pairs: Self.pairs, path: Self.racePath + w.directory.path + "/w/c/T")
        defer { racer.stop() }
        let name = Array("c".utf8)
        var refused = 0
        let started = monotonicSeconds()
        for round in 1...Self.rounds {
            _ = try Self.buildTree(in: area, "c", victim: w.victim, hostile: true)
            if (try? Canonicaliser.canonicalise(in: area, name: name, displayPath: "c")) == nil { refused += 1 }
            while (try? area.removeTree(at: name)) == nil {}
            let changed = w.victim.changes()
            #expect(changed == [], "round \(round): victim changed")
            if !changed.isEmpty { break }
        }
        print("SEC-27 canonicalisation: \(Self.rounds) rounds, \(racer.swaps.load(ordering: .relaxed)) swaps, \(refused) walks refused mid-race, \(Int((monotonicSeconds() - started) * 1000)) ms")
        #expect(racer.swaps.load(ordering: .relaxed) > 0)
    }

    /// Without a racer the same trees canonicalise fully: the test's trees are what it claims.
    @Test func canonicalisationWithoutRacerIsComplete() throws {
        let w = try Workspace()
        let area = try w.directory.descriptor.openDirectory(at: Array("w".utf8).withCreatedDirectory(in: w.directory.descriptor))
        _ = try Self.buildTree(in: area, "calm", victim: w.victim, hostile: true)
        try Canonicaliser.canonicalise(in: area, name: Array("calm".utf8), displayPath: "calm")
        for node in ["", "/T", "/T/sub", "/T/sub/a", "/T/sub/b", "/T/file"] {  // b was setuid
            let st = try #require(statPath(w.directory.path + "/w/calm" + node))
            #expect(st.st_mode & 0o7777 == (st.st_mode & S_IFMT == S_IFDIR || node.hasSuffix("/b") ? 0o555 : 0o444), "\(node)")
            #expect(st.st_uid == geteuid() && st.st_mtim.tv_sec == 1, "\(node)")
        }
        #expect(statPath(w.directory.path + "/w/calm/T/evil")!.st_uid == geteuid())
        #expect(w.victim.changes() == [])
    }
}

extension Array where Element == UInt8 {
    /// Creates this name under `directory` and returns it.
    func withCreatedDirectory(in directory: FileDescriptor) throws -> [UInt8] {
        try directory.makeDirectory(at: self, mode: 0o755)
        return self
    }
}
