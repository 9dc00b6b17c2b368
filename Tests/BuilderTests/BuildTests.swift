import Testing
import Glibc
import StoreFormats
import LocalStore
import LinuxSystem
@testable import Builder

/// Real builds of busybox derivations in a private store, as root, in both daemon modes:
/// build-user pool (guixbuilder01..04 in guixbuild) and user namespace (no build group).
@Suite(.serialized, .tags(.large), .enabled(if: geteuid() == 0 && BuildFixture.hasBusybox))
struct BuildTests {
    enum Mode: String, CaseIterable { case pool, userNamespace }

    func settings(_ fixture: BuildFixture, _ mode: Mode) throws -> BuildSettings {
        var s = fixture.settings
        if mode == .pool {
            try #require(ensureBuildUsers())
            s.buildUsersGroup = "guixbuild"
        }
        return s
    }

    /// A 3-level DAG: a ← b1, b2 ← c. References are recorded exactly.
    @Test(arguments: Mode.allCases)
    func threeLevelDAG(_ mode: Mode) throws {
        let f = try BuildFixture()
        let a = try f.derivation("a", script: "mkdir $out; echo hello from a; echo a > $out/a")
        let b1 = try f.derivation("b1", script: "mkdir $out; echo $in0 > $out/ref", inputs: [a])
        let b2 = try f.derivation("b2", script: "mkdir $out; cat $in0/a > $out/copy", inputs: [a])
        let c = try f.derivation("c", script: "mkdir $out; echo $in0 $in1 > $out/refs; id -u > $out/uid", inputs: [b1, b2])
        var s = try settings(f, mode)
        s.maxBuildJobs = 2
        let log = EventLog()
        let results = Builder(store: f.store, settings: s).build([.derivation(c)]) { log.append($0) }
        #expect(results.count == 1)
        #expect(results[0].status == .built, "\(results[0].errorMessage) \(log.messages)")
        #expect(results[0].builtOutputs["out"] == f.output(c))

        let outA = try #require(f.output(a)), outB1 = try #require(f.output(b1))
        let outB2 = try #require(f.output(b2)), outC = try #require(f.output(c))
        for p in [outA, outB1, outB2, outC] { #expect(try f.store.isValidPath(p)) }
        #expect(Set(try f.store.queryReferences(outA)) == [])
        #expect(Set(try f.store.queryReferences(outB1)) == [outA])
        #expect(Set(try f.store.queryReferences(outB2)) == [])
        #expect(Set(try f.store.queryReferences(outC)) == [outB1, outB2])
        #expect(try f.store.queryPathInfo(outC)?.deriver == c)
        #expect(shell("cat '\(f.absolute(outB2))/copy'") == "a\n")
        let uid = shell("cat '\(f.absolute(outC))/uid'")?.filter { !$0.isWhitespace }
        if mode == .userNamespace {
            #expect(uid == "30001")
        } else {
            #expect(uid != "0" && uid != nil && uid != "30001")
        }
        // Canonical: root-owned (the daemon), 0555 dirs, mtime 1.
        #expect(shell("stat -c '%a %u %Y' '\(f.absolute(outC))'") == "555 0 1\n")
        #expect(log.output.contains("hello from a"))
        // Rebuild: everything valid.
        let again = Builder(store: f.store, settings: s).build([.derivation(c)])
        #expect(again[0].status == .alreadyValid)
        // No chroot or build tree left behind.
        Builder.waitForCleanup()
        #expect(shell("ls '\(f.root)/tmp'") == "")
        #expect(shell("ls -a '\(f.root)/store' | grep -c -e chroot -e trash") == nil)
    }

    /// Build trees and chroots are emptied and reused (SpareDirectories): nothing a builder
    /// left, in its tree or in the store directory it saw, reaches the next build.
    @Test(arguments: Mode.allCases)
    func recycledDirectoriesCarryNothingOver(_ mode: Mode) throws {
        let f = try BuildFixture()
        let s = try settings(f, mode)
        let dirty = try f.derivation("dirty", script: """
            mkdir $out; echo junk > $NIX_BUILD_TOP/junk; mkdir $NIX_BUILD_TOP/d; echo x > $NIX_BUILD_TOP/d/x; chmod 0 $NIX_BUILD_TOP/d
            echo stray > $NIX_STORE/zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz-stray; mkdir $NIX_STORE/yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy-stray
            """)
        #expect(Builder(store: f.store, settings: s).build([.derivation(dirty)])[0].status == .built)
        Janitor.shared.waitUntilIdle()
        let top = try HostPath.canonical(f.root + "/tmp")
        let before = try spareInodes(top, f.root + "/store")

        let clean = try f.derivation("clean", script: """
            mkdir $out; ls -a $NIX_BUILD_TOP > $out/tree; ls -a $NIX_STORE | grep -c stray > $out/stray
            stat -c '%a' $NIX_BUILD_TOP $NIX_STORE > $out/modes
            """)
        let result = Builder(store: f.store, settings: s).build([.derivation(clean)])[0]
        #expect(result.status == .built, "\(result.errorMessage)")
        // The dirty build's emptied directories served this one (same inodes), then became spares again.
        Janitor.shared.waitUntilIdle()
        #expect(try spareInodes(top, f.root + "/store") == before)
        let out = f.absolute(try #require(f.output(clean)))
        #expect(shell("cat '\(out)/tree'") == ".\n..\n")
        #expect(shell("cat '\(out)/stray'") == "0\n")
        #expect(shell("cat '\(out)/modes'") == "700\n1775\n")
        Builder.waitForCleanup()
        #expect(SpareDirectories.shared.names(.chroot, in: f.root + "/store").isEmpty)
        #expect(shell("ls -a '\(f.root)/tmp' '\(f.root)/store' | grep -c -e trash -e chroot -e stray") == nil)
    }

    /// A daemon worker serves one connection: at its exit its spares wait in
    /// `.cloister-spares` (0700) and the next worker's build claims them, still re-checked and
    /// emptied: nothing the earlier builder left reaches it.
    @Test(arguments: Mode.allCases)
    func sparesPassToTheNextWorker(_ mode: Mode) throws {
        let f = try BuildFixture()
        let s = try settings(f, mode)
        let dirty = try f.derivation("dirty-handed-on", script: """
            mkdir $out; echo junk > $NIX_BUILD_TOP/junk
            echo stray > $NIX_STORE/zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz-stray
            """)
        #expect(Builder(store: f.store, settings: s).build([.derivation(dirty)])[0].status == .built)
        Janitor.shared.waitUntilIdle()
        let top = try HostPath.canonical(f.root + "/tmp")
        let store = f.root + "/store"
        let before = try spareInodes(top, store)
        Builder.waitForCleanup(handOnSpares: true)
        #expect(SpareDirectories.shared.names(.chroot, in: store).isEmpty)
        func shared(_ directory: String) -> [String] {
            shell("ls '\(directory)/.cloister-spares'")?.split(separator: "\n").map(String.init) ?? []
        }
        #expect(shared(store).count == 1 && shared(store).allSatisfy { $0.hasPrefix("chroot-") })
        #expect(shared(top).count == 1 && shared(top).allSatisfy { $0.hasPrefix("tree-") })
        #expect(shell("stat -c %a '\(store)/.cloister-spares' '\(top)/.cloister-spares'") == "700\n700\n")

        let clean = try f.derivation("clean-handed-on", script: """
            mkdir $out; ls -a $NIX_BUILD_TOP > $out/tree; ls -a $NIX_STORE | grep -c stray > $out/stray
            true
            """)
        let result = Builder(store: f.store, settings: s).build([.derivation(clean)])[0]
        #expect(result.status == .built, "\(result.errorMessage)")
        Janitor.shared.waitUntilIdle()
        #expect(try spareInodes(top, store) == before)
        #expect(shared(store).isEmpty && shared(top).isEmpty)
        let out = f.absolute(try #require(f.output(clean)))
        #expect(shell("cat '\(out)/tree'") == ".\n..\n")
        #expect(shell("cat '\(out)/stray'") == "0\n")
        Builder.waitForCleanup()
    }

    /// A spare worker makes its first build's chroot skeleton and build tree while it waits for
    /// its client: the build then uses those very directories (and recycles them).
    @Test(arguments: Mode.allCases)
    func directoriesMadeAheadServeTheFirstBuild(_ mode: Mode) throws {
        let f = try BuildFixture()
        let s = try settings(f, mode)
        let top = try HostPath.canonical(f.root + "/tmp")
        let store = f.root + "/store"
        let drv = try f.derivation("made-ahead", script: "mkdir $out; ls -a $NIX_BUILD_TOP > $out/tree")
        let layout = f.store.layout
        let logs = layout.logDirectory + "/drvs"
        try HostPath.makeDirectories(logs)
        func prepare() {
            Builder.prepareSpares(storeDirectory: store, stateDirectory: layout.stateDirectory, logDirectory: layout.logDirectory, settings: s)
        }
        prepare()
        func sharedInodes() -> [String] {
            [top, store].map { shell("ls -i '\($0)/.cloister-spares' | grep -e tree- -e chroot- | cut -d' ' -f1") ?? "" }
        }
        let ahead = sharedInodes()
        #expect(ahead.allSatisfy { $0.split(separator: "\n").count == 1 }, "one chroot and one tree wait: \(ahead)")
        func spareFiles(_ directory: String) -> [String] {
            shell("ls -i '\(directory)/.cloister-spares' | grep file- | sort")?.split(separator: "\n").map(String.init) ?? []
        }
        let logSpares = spareFiles(logs), storeSpares = spareFiles(store)
        #expect(logSpares.count == 1 && storeSpares.count == 2 && spareFiles(layout.stateDirectory).count == 1)
        prepare()
        #expect(sharedInodes() == ahead && spareFiles(logs) == logSpares, "topped up, not made again")
        let result = Builder(store: f.store, settings: s).build([.derivation(drv)])[0]
        #expect(result.status == .built, "\(result.errorMessage)")
        Janitor.shared.waitUntilIdle()
        // The build claimed both (and keeps them as its own spares now).
        #expect(sharedInodes() == ["", ""])
        #expect(try spareInodes(top, store).map(String.init) == ahead.map { String($0.dropLast()) })
        // The log file is the spare file, and the lock file came from the store's spares.
        let log = try #require(BuildLogFile.find(logDirectory: layout.logDirectory, drvPath: drv))
        #expect(logSpares.first?.split(separator: " ").first.map(String.init) == shell("stat -c %i '\(log)'")?.dropLast().description)
        #expect(spareFiles(logs).isEmpty && spareFiles(store).count == 1, "\(spareFiles(store))")
        #expect(shell("cat '\(f.absolute(try #require(f.output(drv))))/tree'") == ".\n..\n")
        Builder.waitForCleanup()
    }

    /// Inodes of the one spare build tree in `tmp` and the one spare chroot in `store`.
    func spareInodes(_ tmp: String, _ store: String) throws -> [UInt64] {
        let tree = SpareDirectories.shared.names(.buildTree, in: tmp)
        let chroot = SpareDirectories.shared.names(.chroot, in: store)
        try #require(tree.count == 1 && chroot.count == 1)
        return [try FileDescriptor.open(tmp, [.readOnly, .directory]).status(at: tree[0]).inode,
                try FileDescriptor.open(store, [.readOnly, .directory]).status(at: chroot[0]).inode]
    }

    @Test(arguments: Mode.allCases)
    func outputsAreCanonicalised(_ mode: Mode) throws {
        let f = try BuildFixture()
        let script = """
            mkdir -p $out/bin $out/d; cp $PATH/busybox $out/bin/x; chmod 6755 $out/bin/x; chmod 0777 $out/d
            echo data > $out/d/file; chmod 0666 $out/d/file; ln -s x $out/bin/link
            """
        let drv = try f.derivation("perms", script: script)
        let results = Builder(store: f.store, settings: try settings(f, mode)).build([.derivation(drv)])
        #expect(results[0].status == .built, "\(results[0].errorMessage)")
        let out = f.absolute(try #require(f.output(drv)))
        #expect(shell("stat -c '%a %Y' '\(out)/bin/x' '\(out)/d' '\(out)/d/file' '\(out)/bin' '\(out)'")
                == "555 1\n555 1\n444 1\n555 1\n555 1\n")
        #expect(shell("stat -c '%Y' '\(out)/bin/link'") == "1\n")
        #expect(shell("find '\(out)' ! -type l -perm /7022 | wc -l")?.filter { !$0.isWhitespace } == "0")
    }

    @Test(arguments: Mode.allCases)
    func failingBuilderIsReportedWithGuixsMessage(_ mode: Mode) throws {
        let f = try BuildFixture()
        let drv = try f.derivation("fails", script: "echo about to fail; mkdir $out; exit 3")
        var s = try settings(f, mode)
        s.cacheFailures = true
        let results = Builder(store: f.store, settings: s).build([.derivation(drv)])
        #expect(results[0].status == .permanentFailure)
        #expect(results[0].errorMessage == "builder for `\(f.absolute(drv))' failed with exit code 3")
        #expect(workerExitStatus(results) == 100)
        let out = try #require(f.output(drv))
        #expect(!(try f.store.isValidPath(out)))
        #expect(shell("test -e '\(f.absolute(out))'") == nil)
        // The log was written, gzip-compressed.
        let logPath = try #require(BuildLogFile.find(logDirectory: f.configuration.layout.logDirectory, drvPath: drv))
        #expect(logPath.hasSuffix(".gz"))
        #expect(shell("gzip -dc '\(logPath)'") == "about to fail\n")
        // --cache-failures: the next attempt fails at once.
        let cached = Builder(store: f.store, settings: s).build([.derivation(drv)])
        #expect(cached[0].status == .cachedFailure)
        #expect(cached[0].errorMessage == "builder for `\(f.absolute(drv))' failed previously (cached)")
    }

    @Test func writableTopLevelOutputIsRejected() throws {
        let f = try BuildFixture()
        let drv = try f.derivation("writable", script: "mkdir $out; chmod 0777 $out")
        let results = Builder(store: f.store, settings: f.settings).build([.derivation(drv)])
        #expect(results[0].status == .outputRejected)
        let out = f.absolute(try #require(f.output(drv)))
        #expect(results[0].errorMessage == "suspicious ownership or permission on `\(out)'; rejecting this build output")
        #expect(shell("test -e '\(out)'") == nil)
    }

    @Test func missingOutputAndDependencyFailure() throws {
        let f = try BuildFixture()
        let a = try f.derivation("no-output", script: "true")
        let b = try f.derivation("dependent", script: "mkdir $out", inputs: [a])
        let results = Builder(store: f.store, settings: f.settings).build([.derivation(b)])
        #expect(results[0].status == .dependencyFailed)
        let first = Builder(store: f.store, settings: f.settings).build([.derivation(a)])
        let out = f.absolute(try #require(f.output(a)))
        #expect(first[0].errorMessage == "builder for `\(f.absolute(a))' failed to produce output path `\(out)'")
    }

    @Test func allowedReferencesAreEnforced() throws {
        let f = try BuildFixture()
        let a = try f.derivation("dep", script: "mkdir $out")
        let b = try f.derivation("refers", script: "mkdir $out; echo $in0 > $out/r", inputs: [a],
                                 env: ["allowedReferences": ""])
        let results = Builder(store: f.store, settings: f.settings).build([.derivation(b)])
        let outA = f.absolute(try #require(f.output(a))), outB = f.absolute(try #require(f.output(b)))
        #expect(results[0].status == .outputRejected)
        #expect(results[0].errorMessage == "output (`\(outB)') is not allowed to refer to path `\(outA)'")
    }

    @Test func timeoutAndSilence() throws {
        let f = try BuildFixture()
        let drv = try f.derivation("slow", script: "sleep 30")
        var s = f.settings
        s.maxSilentTime = 1
        let results = Builder(store: f.store, settings: s).build([.derivation(drv)])
        #expect(results[0].status == .timedOut)
        #expect(results[0].errorMessage == "building of `\(f.absolute(drv))' timed out after 1 seconds of silence")
        #expect(workerExitStatus(results) == 101)
    }

    /// Two clients (two processes, as two daemon connections are) realise the same derivation
    /// at once: exactly one builds it, the other waits on the output locks and finds it valid.
    @Test(.enabled(if: cloisterExecutable != nil), arguments: Mode.allCases)
    func concurrentRequestsBuildOnce(_ mode: Mode) throws {
        let f = try BuildFixture()
        let drv = try f.derivation("shared", script: "sleep 1; mkdir $out")
        _ = try settings(f, mode)
        let env = "NIX_STORE_DIR='\(f.root)/store' GUIX_STATE_DIRECTORY='\(f.root)/state' GUIX_LOG_DIRECTORY='\(f.root)/log' TMPDIR='\(f.root)/tmp'"
        let group = mode == .pool ? "--build-users-group=guixbuild" : ""
        // Two threads each running one client process (a shell `wait` does not work under the
        // test runner's signal mask).
        let cloister = cloisterExecutable ?? ""
        let root = f.root
        let drvText = f.absolute(drv)
        let threads = try (1...2).map { i in
            try SystemThread.start {
                shell("\(env) '\(cloister)' build -q \(group) \(drvText) >'\(root)/out\(i)' 2>'\(root)/err\(i)'")
            }
        }
        threads.forEach { $0.join() }
        let out = f.absolute(try #require(f.output(drv))) + "\n"
        #expect(shell("cat '\(f.root)/out1'") == out)
        #expect(shell("cat '\(f.root)/out2'") == out)
        let started = shell("cat '\(f.root)/err1' '\(f.root)/err2' | grep -c '] building \(f.absolute(drv))'")
        #expect(started == "1\n")
    }

    @Test func poolExhaustionGivesGuixsMessage() throws {
        let f = try BuildFixture()
        try #require(ensureBuildUsers())
        let pool = BuildUserPool(groupName: "guixbuild", directory: f.root + "/state/userpool")
        let members = try #require(try GroupAccount.named("guixbuild")).members.count
        var held: [BuildUser] = []
        for _ in 0..<members { held.append(try pool.acquire()) }
        #expect(Set(held.map(\.uid)).count == members)
        #expect(held.allSatisfy { $0.gid == held[0].gid })
        do {
            _ = try pool.acquire()
            Issue.record("acquired more users than the group has")
        } catch {
            #expect(error.description == "all build users are currently in use; consider creating additional users and adding them to the `guixbuild' group")
        }
        held[0].release()
        #expect((try? pool.acquire()) != nil)
    }

    @Test func backgroundProcessesOfABuildUserDie() throws {
        let f = try BuildFixture()
        var s = try settings(f, .pool)
        s.maxBuildJobs = 1
        let drv = try f.derivation("forks", script: "(sleep 1000 &) ; mkdir $out")
        let results = Builder(store: f.store, settings: s).build([.derivation(drv)])
        #expect(results[0].status == .built)
        #expect(shell("pgrep -u guixbuilder01,guixbuilder02,guixbuilder03,guixbuilder04 -f 'sleep 1000'") == nil)
    }
}

final class ResultBox: @unchecked Sendable {
    private let lock = ConditionLock()
    private var values: [BuildResult.Status] = []
    private var kept: [BuildResult] = []
    func add(_ s: BuildResult.Status) { lock.withLock { values.append(s) } }
    func add(_ r: BuildResult) { lock.withLock { values.append(r.status); kept.append(r) } }
    var statuses: [BuildResult.Status] { lock.withLock { values } }
    var results: [BuildResult] { lock.withLock { kept } }
}
