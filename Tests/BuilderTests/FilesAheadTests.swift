import Testing
import Glibc
import StoreFormats
import LocalStore
import LinuxSystem
@testable import Builder

/// Lock files and log directories made ahead of a request's builds (FilesAhead): made for
/// goals not started yet, never for one that has started, removed again for goals that never
/// ran; the builds themselves leave nothing behind.
@Suite(.serialized, .tags(.medium), .enabled(if: BuildFixture.hasBusybox))
struct FilesAheadTests {
    @Test func madeAheadClaimedAndRemovedWhenUnused() throws {
        let f = try BuildFixture()
        let a = try f.derivation("a", script: "echo a > $out")
        let b = try f.derivation("b", script: "echo $in0 > $out", inputs: [a])
        let c = try f.derivation("c", script: "echo $in0 > $out", inputs: [b])
        var graph = GoalGraph()
        try graph.add(c, store: SharedStore(f.store))
        let ahead = FilesAhead(graph: graph, layout: f.store.layout, keepLog: true)
        var locks: [StorePath: String] = [:]
        for drv in [a, b, c] { locks[drv] = f.absolute(try #require(f.output(drv))) + ".lock" }
        let lockFile = { (drv: StorePath) in locks[drv] ?? "" }
        let logDirectory = { (drv: StorePath) in f.root + "/log/drvs/" + String(drv.baseName.prefix(2)) }
        ahead.claim(a)  // a's build has started: nothing is made for it.
        ahead.makeAll()  // What the thread does (at SCHED_IDLE, so not waited for here).
        #expect(HostPath.exists(lockFile(b)) && HostPath.exists(lockFile(c)))
        #expect(HostPath.exists(logDirectory(b)) && HostPath.exists(logDirectory(c)))
        #expect(!HostPath.exists(lockFile(a)))
        ahead.claim(b)  // b ran (and would delete its own lock file); c never did.
        ahead.finish()
        #expect(HostPath.exists(lockFile(b)))
        #expect(!HostPath.exists(lockFile(c)))
    }
}

extension BuildTests {
    /// A chain built through the Scheduler leaves no lock file, whatever was made ahead; a goal
    /// stopped by its input's failure leaves none either.
    @Test(arguments: Mode.allCases)
    func chainsLeaveNoLockFiles(_ mode: Mode) throws {
        let f = try BuildFixture()
        let s = try settings(f, mode)
        let a = try f.derivation("a", script: "echo a > $out")
        let b = try f.derivation("b", script: "echo $in0 > $out", inputs: [a])
        let c = try f.derivation("c", script: "echo $in0 > $out", inputs: [b])
        #expect(Builder(store: f.store, settings: s).build([.derivation(c)])[0].status == .built)
        let failing = try f.derivation("fails", script: "exit 1", inputs: [c])
        let after = try f.derivation("after", script: "echo $in0 > $out", inputs: [failing])
        #expect(Builder(store: f.store, settings: s).build([.derivation(after)])[0].status == .dependencyFailed)
        Builder.waitForCleanup()
        let locks = shell("ls -a '\(f.root)/store' | grep '\\.lock$' | grep -v -- '-fails.lock$'")
        #expect(locks == nil, "\(locks ?? "")")
    }
}
