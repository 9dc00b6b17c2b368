import Testing
import Glibc
import StoreFormats
import LinuxSystem
@testable import LocalStore

@Suite(.tags(.medium), .serialized) struct GCTests {
    func text(_ store: LocalStore, _ name: String, _ refs: Set<StorePath> = []) throws -> StorePath {
        let body = refs.map { $0.absolute(in: store.storeDirectory) }.sorted().joined(separator: " ") + " " + name
        return try store.addTextToStore(name: name, contents: Array(body.utf8), references: refs)
    }

    /// `lib` and `app`, which refers to it.
    func libAndApp(_ t: TestStore) throws -> (lib: StorePath, app: StorePath) {
        try t.populate { store in
            let lib = try text(store, "lib")
            return (lib, try text(store, "app", [lib]))
        }
    }

    @Test func rootsKeepTheirClosureAndTheRestGoes() throws {
        let t = try TestStore()
        let (lib, app, junk, viaIndirect, stale) = try t.populate { store in
            let lib = try text(store, "lib")
            return (lib, try text(store, "app", [lib]), try text(store, "junk", [lib]), try text(store, "indirect"), try text(store, "stale"))
        }
        let store = try t.open()
        symlink(app.absolute(in: store.storeDirectory), t.root + "/state/gcroots/app")
        // Indirect roots: gcroots/auto/<hash> → a user link → the store.
        symlink(viaIndirect.absolute(in: store.storeDirectory), t.root + "/result")
        try store.addIndirectRoot(t.root + "/result")
        symlink(stale.absolute(in: store.storeDirectory), t.root + "/gone")
        try store.addIndirectRoot(t.root + "/gone")
        unlink(t.root + "/gone")

        let roots = try store.findRoots()
        #expect(Set(roots.values) == [app, viaIndirect])
        #expect(shell("ls '\(t.root)/state/gcroots/auto' | wc -l") == "1\n")  // the stale one went

        let dead = try store.collectGarbage(GCOptions(action: .returnDead)).paths
        #expect(Set(dead) == Set([junk, stale].map { $0.absolute(in: store.storeDirectory) }))
        let live = try store.collectGarbage(GCOptions(action: .returnLive)).paths
        #expect(Set(live) == Set([lib, app, viaIndirect].map { $0.absolute(in: store.storeDirectory) }))

        let result = try store.collectGarbage(GCOptions(action: .deleteDead))
        #expect(Set(result.paths) == Set(dead))
        #expect(result.bytesFreed > 0)
        #expect(try !store.isValidPath(junk))
        #expect(access(junk.absolute(in: store.storeDirectory), F_OK) != 0)
        #expect(try store.isValidPath(lib) && store.isValidPath(app))
        #expect(access(t.root + "/store/trash", F_OK) != 0)
    }

    /// guix-daemon's progress line counts, before each deleted path, the NAR sizes of the valid
    /// paths deleted so far; a limit that stops the deletion says so.
    @Test func progressCountsWhatWentBefore() throws {
        let t = try TestStore()
        let (lib, app) = try libAndApp(t)
        let store = try t.open()
        let appSize = try #require(try store.queryPathInfo(app)).narSize
        let result = try store.collectGarbage(GCOptions(action: .deleteSpecific([lib])))
        // The referrer goes first.
        #expect(result.paths == [app, lib].map { $0.absolute(in: store.storeDirectory) })
        #expect(result.freedBefore == [0, appSize])
        #expect(!result.stoppedAtLimit)
        let listed = try store.collectGarbage(GCOptions(action: .returnDead))
        #expect(listed.freedBefore.isEmpty)

        _ = try t.populate { store in [try text(store, "a"), try text(store, "b")] }
        let limited = try t.open().collectGarbage(GCOptions(action: .deleteDead, maxFreed: 1))
        #expect(limited.paths.count == 1 && limited.stoppedAtLimit, "one path frees more than a byte")
    }

    /// `--delete` of paths that are not valid: a leftover on disk goes, a name with nothing
    /// behind it is only noted, and one an add holds (a temp root) is still alive.
    @Test func deletingPathsThatAreNotValid() throws {
        let t = try TestStore()
        let store = try t.open()
        let leftover = try StorePath(baseName: "00000000000000000000000000000000-leftover")
        let absent = try StorePath(baseName: "11111111111111111111111111111111-absent")
        let inFlight = try StorePath(baseName: "22222222222222222222222222222222-in-flight")
        shell("mkdir -p '\(t.root)/store/\(leftover.baseName)/sub' && echo x > '\(t.root)/store/\(leftover.baseName)/sub/f'")
        shell("echo x > '\(t.root)/store/\(inFlight.baseName)'")
        let result = try store.collectGarbage(GCOptions(action: .deleteSpecific([leftover, absent])))
        #expect(result.paths == [leftover.absolute(in: store.storeDirectory)])
        #expect(result.absent == [absent.absolute(in: store.storeDirectory)])
        #expect(access(leftover.absolute(in: store.storeDirectory), F_OK) != 0)
        // A temp root of this process (an add in flight) protects its name.
        try store.addTempRoot(inFlight)
        do {
            _ = try store.collectGarbage(GCOptions(action: .deleteSpecific([inFlight])))
            Issue.record("deleted a path an add holds")
        } catch {
            #expect(error.description == "cannot delete path `\(inFlight.absolute(in: store.storeDirectory))' since it is still alive")
        }
        #expect(access(inFlight.absolute(in: store.storeDirectory), F_OK) == 0)
    }

    @Test func deletingALivePathIsRefused() throws {
        let t = try TestStore()
        let (lib, app) = try libAndApp(t)
        let store = try t.open()
        symlink(app.absolute(in: store.storeDirectory), t.root + "/state/gcroots/app")
        do {
            _ = try store.collectGarbage(GCOptions(action: .deleteSpecific([lib])))
            Issue.record("deleted a live path")
        } catch {
            #expect(error.description == "cannot delete path `\(lib.absolute(in: store.storeDirectory))' since it is still alive")
        }
        unlink(t.root + "/state/gcroots/app")
        // Dead now: deleting lib takes its (dead) referrer with it.
        let r = try store.collectGarbage(GCOptions(action: .deleteSpecific([lib])))
        #expect(Set(r.paths) == Set([lib, app].map { $0.absolute(in: store.storeDirectory) }))
    }

    /// A temp root held by another live process (a classic fcntl lock, as guix-daemon takes)
    /// protects the path; once that process is dead, its file and the path go.
    @Test func tempRootsOfLiveProcessesOnly() throws {
        let t = try TestStore()
        let kept = try t.populate { try text($0, "kept") }
        let store = try t.open()
        let abs = kept.absolute(in: store.storeDirectory)
        let script = """
            import fcntl, os, sys, time
            f = open('\(t.root)/state/temproots/%d' % os.getpid(), 'w+')
            fcntl.lockf(f, fcntl.LOCK_SH)
            f.write('\(abs)\\0'); f.flush()
            print('ready', flush=True)
            sys.stdin.read()
            """
        shell("printf '%s' \"\(script)\" > '\(t.root)/holder.py'")
        let holder = try #require(popen("sleep 1 | python3 '\(t.root)/holder.py'", "r"))
        var line = [CChar](repeating: 0, count: 16)
        _ = fgets(&line, 16, holder)
        #expect(line.prefix(6).map { UInt8(bitPattern: $0) } == Array("ready\n".utf8))
        _ = try store.collectGarbage(GCOptions(action: .deleteDead))
        #expect(try store.isValidPath(kept))
        pclose(holder)  // the holder exits when `sleep` closes its stdin
        #expect(shell("ls '\(t.root)/state/temproots' | wc -l") == "1\n")
        _ = try store.collectGarbage(GCOptions(action: .deleteDead))
        #expect(try !store.isValidPath(kept))
        #expect(shell("ls '\(t.root)/state/temproots' | wc -l") == "0\n")
    }

    /// A process whose working directory is in a dead path keeps it (runtime roots).
    @Test func runtimeRootsOfRunningProcesses() throws {
        let t = try TestStore()
        let tree = try t.populate { try $0.addToStore(nar: ByteArraySource(try sampleTreeNAR("busy")), name: "busy", method: .recursive) }
        let store = try t.open()
        let dir = tree.absolute(in: store.storeDirectory)
        let pid = try Worker.spawnShell("cd '\(dir)/bin' && exec sleep 5")
        defer { kill(pid, SIGKILL); _ = Worker.wait(pid) }
        usleep(100_000)
        #expect(store.findRuntimeRoots().contains(tree))
        #expect(try store.collectGarbage(GCOptions(action: .returnDead)).paths.isEmpty)
        kill(pid, SIGKILL)
        _ = Worker.wait(pid)
        #expect(try store.collectGarbage(GCOptions(action: .returnDead)).paths == [dir])
    }

    @Test func ownTempRootsProtect() throws {
        let t = try TestStore()
        let store = try t.open()
        let p = try text(store, "mine")  // adding takes a temp root
        #expect(shell("ls '\(t.root)/state/temproots'") == "\(getpid())\n")
        _ = try store.collectGarbage(GCOptions(action: .deleteDead))
        #expect(try store.isValidPath(p))
        // Another store handle (a fresh process would be the same) collects after we are gone.
        let other = try t.open()
        #expect(try other.collectGarbage(GCOptions(action: .returnDead)).paths.isEmpty)
    }

    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
    func keepOutputsKeepDerivationsMatrix(keepOutputs: Bool, keepDerivations: Bool) throws {
        let t = try TestStore()
        let (drv, out) = try t.populate { setup in
            let (text, outputs) = try makeDerivation("hello", in: setup.storeDirectory)
            let drv = try setup.addTextToStore(name: "hello.drv", contents: text)
            let out = outputs["out"]!
            shell("mkdir '\(out.absolute(in: setup.storeDirectory))'")
            try setup.registerValidPath(fakeInfo(out, deriver: drv))
            return (drv, out)
        }
        let store = try t.open { $0.gcKeepOutputs = keepOutputs; $0.gcKeepDerivations = keepDerivations }
        let s = store.storeDirectory

        symlink(out.absolute(in: s), t.root + "/state/gcroots/out")
        var dead = Set(try store.collectGarbage(GCOptions(action: .returnDead)).paths)
        #expect(dead.contains(drv.absolute(in: s)) == !keepDerivations)
        #expect(!dead.contains(out.absolute(in: s)))

        unlink(t.root + "/state/gcroots/out")
        symlink(drv.absolute(in: s), t.root + "/state/gcroots/drv")
        dead = Set(try store.collectGarbage(GCOptions(action: .returnDead)).paths)
        #expect(dead.contains(out.absolute(in: s)) == !keepOutputs)
        #expect(!dead.contains(drv.absolute(in: s)))
    }

    @Test func linksSurviveWhileUsedAndGoWhenNot() throws {
        let t = try TestStore()
        let big = [UInt8](repeating: 0x63, count: 16_384)
        let (a, b) = try t.populate { store in
            (try store.addToStore(nar: ByteArraySource(try sampleTreeNAR("a", bigFile: big)), name: "a", method: .recursive),
             try store.addToStore(nar: ByteArraySource(try sampleTreeNAR("b", bigFile: big)), name: "b", method: .recursive))
        }
        let gc = try t.open()
        let store = gc
        symlink(b.absolute(in: store.storeDirectory), t.root + "/state/gcroots/b")
        _ = try gc.collectGarbage(GCOptions(action: .deleteDead))
        #expect(try !gc.isValidPath(a))
        #expect(shell("ls '\(t.root)/store/.links' | wc -l") == "1\n")
        #expect(statPath(b.absolute(in: store.storeDirectory) + "/data")!.st_nlink == 2)
        unlink(t.root + "/state/gcroots/b")
        let r = try gc.collectGarbage(GCOptions(action: .deleteDead))
        #expect(shell("ls '\(t.root)/store/.links' | wc -l") == "0\n")
        #expect(r.bytesFreed >= 16_384)
    }

    @Test func deletingASpecificPathDropsItsUnusedLinks() throws {
        let t = try TestStore()
        let big = [UInt8](repeating: 0x64, count: 16_384)
        let path = try t.populate { store in
            try store.addToStore(nar: ByteArraySource(try sampleTreeNAR("specific", bigFile: big)), name: "specific", method: .recursive)
        }
        let store = try t.open()
        #expect(shell("ls '\(t.root)/store/.links' | wc -l") == "1\n")
        let r = try store.collectGarbage(GCOptions(action: .deleteSpecific([path])))
        #expect(r.paths == [path.absolute(in: store.storeDirectory)])
        #expect(shell("ls '\(t.root)/store/.links' | wc -l") == "0\n")
        #expect(r.bytesFreed >= 16_384)
    }

    @Test func invalidEntriesGoButActiveLocksStay() throws {
        let t = try TestStore()
        let store = try t.open()
        let s = t.root + "/store/"
        let leftover = fakePath("leftover"), busy = fakePath("busy"), idle = fakePath("idle")
        shell("mkdir -p '\(s)\(leftover.baseName)/sub' && chmod 555 '\(s)\(leftover.baseName)' && touch '\(s)\(idle.baseName).lock'")
        let locks = try #require(try store.lockPaths([busy]))
        _ = try store.collectGarbage(GCOptions(action: .deleteDead))
        #expect(access(s + leftover.baseName, F_OK) != 0)
        #expect(access(s + busy.baseName + ".lock", F_OK) == 0)
        #expect(access(s + idle.baseName + ".lock", F_OK) != 0)
        locks.release()
    }

    @Test func maxFreedStopsEarly() throws {
        let t = try TestStore()
        try t.populate { store in
            for i in 0..<10 { _ = try store.addTextToStore(name: "f\(i)", contents: [UInt8](repeating: 0x41, count: 1000) + Array("\(i)".utf8)) }
        }
        let gc = try t.open()
        let r = try gc.collectGarbage(GCOptions(action: .deleteDead, maxFreed: 2500))
        #expect(r.paths.count == 3)
        #expect(try gc.queryAllValidPaths().count == 7)
    }
}
