import Testing
import Glibc
import StoreFormats
import LinuxSystem
@testable import LocalStore

/// security.md SEC-10 and SEC-27: a racer holding a directory fd inside a tree swaps entries
/// (RENAME_EXCHANGE) while the store deletes or canonicalises that tree. Files outside the tree
/// (the canaries) must never be deleted, chmod'ed or chown'ed.
@Suite(.tags(.medium), .serialized) struct RaceTests {
    final class Racer: @unchecked Sendable {
        let directory: FileDescriptor
        let a: [UInt8], b: [UInt8]
        nonisolated(unsafe) var stop = false
        nonisolated(unsafe) var swaps = 0
        var thread: ThreadRunner?

        init(directory: FileDescriptor, swapping a: String, with b: String) throws {
            self.directory = directory
            self.a = Array(a.utf8)
            self.b = Array(b.utf8)
            thread = try ThreadRunner { [self] in
                while !stop {
                    if (try? directory.exchange(at: self.a, with: directory, self.b)) != nil { swaps += 1 }
                }
            }
        }

        func finish() throws {
            stop = true
            try thread?.join()
        }
    }

    func write(_ path: String, _ text: String, mode: mode_t = 0o644) {
        let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, mode)
        _ = text.withCString { Glibc.write(fd, $0, strlen($0)) }
        close(fd)
    }

    @Test func deletionNeverFollowsASwappedSymlink() throws {
        let t = try TestStore()
        let canary = t.root + "/canary.d"
        mkdir(canary, 0o755)
        for i in 0..<5 { write(canary + "/keep\(i)", "canary") }
        let work = try FileDescriptor.currentDirectory.openDirectory(at: t.root)
        var totalSwaps = 0
        var rounds = 0
        while totalSwaps < 10_000 && rounds < 3_000 {
            rounds += 1
            let victim = t.root + "/victim"
            mkdir(victim, 0o755)
            mkdir(victim + "/sub", 0o755)
            for i in 0..<20 { write(victim + "/sub/f\(i)", "x") }
            symlink(canary, victim + "/evil")
            let racer = try Racer(directory: try work.openDirectory(at: "victim"), swapping: "sub", with: "evil")
            _ = LocalStore.removeCounting(work, Array("victim".utf8))
            try racer.finish()
            totalSwaps += racer.swaps
            shell("rm -rf '\(victim)'")  // whatever the race left (rm does not follow symlinks)
            #expect(shell("ls '\(canary)' | wc -l") == "5\n", "round \(rounds)")
            if shell("ls '\(canary)' | wc -l") != "5\n" { break }
        }
        #expect(totalSwaps >= 10_000 || rounds == 3_000)
    }

    @Test(.enabled(if: geteuid() == 0)) func canonicalisationNeverChangesASwappedInTarget() throws {
        let t = try TestStore()
        let canary = t.root + "/canary"
        write(canary, "secret", mode: 0o640)
        chown(canary, 4321, 4321)
        let work = try FileDescriptor.currentDirectory.openDirectory(at: t.root)
        var totalSwaps = 0
        var rounds = 0
        while totalSwaps < 10_000 && rounds < 3_000 {
            rounds += 1
            let victim = t.root + "/victim"
            mkdir(victim, 0o755)
            for i in 0..<10 { write(victim + "/f\(i)", "x", mode: 0o664); chown(victim + "/f\(i)", 1234, 1234) }
            symlink(canary, victim + "/evil")
            let racer = try Racer(directory: try work.openDirectory(at: "victim"), swapping: "f5", with: "evil")
            try? Canonicaliser.canonicalise(in: work, name: Array("victim".utf8), displayPath: victim)
            try racer.finish()
            totalSwaps += racer.swaps
            shell("chmod -R u+w '\(victim)'; rm -rf '\(victim)'")
            let st = try #require(statPath(canary))
            #expect(st.st_uid == 4321 && st.st_gid == 4321 && st.st_mode & 0o7777 == 0o640, "round \(rounds)")
            if st.st_uid != 4321 || st.st_mode & 0o7777 != 0o640 { break }
        }
        #expect(totalSwaps >= 10_000 || rounds == 3_000)
    }
}
