import Testing
import Glibc
import StoreFormats
import LocalStore
import LinuxSystem
@testable import Builder

/// Pool mode, after the build (guix-daemon.md §4.2 step 3, §4.3): every file of every output
/// must belong to the build user — a file of someone else (here root's, hard-linked into a
/// world-writable subdirectory of the output while the builder waits) rejects the build with
/// ``invalid ownership on file `P'`` and is left untouched, not chmod'ed, chowned or
/// registered. Hard links within and among the outputs of one build stay allowed. In
/// `BuildTests` (an extension): its pool tests share the guixbuild users, and a suite running
/// beside them would have its build killed by their killUser.
extension BuildTests {
    @Test func poolOutputFileOfAnotherUserIsRejected() throws {
        let f = try BuildFixture()
        let s = try settings(f, .pool)
        let drv = try f.derivation("foreign", script: """
            mkdir -p $out/drop; chmod 0777 $out/drop; echo mine > $out/mine
            busybox mkfifo go; echo ready; cat go > /dev/null; echo done
            """)
        let out = try #require(f.output(drv))
        // A root-owned canary on the store's file system (hard links do not cross file systems).
        let canary = f.root + "/canary"
        try #require(shell("echo canary > '\(canary)' && chmod 0640 '\(canary)' && touch -d @1234567890 '\(canary)'") != nil)

        let log = EventLog()
        let box = ResultBox()
        let builder = Builder(store: f.store, settings: s)
        let thread = try SystemThread.start { box.add(builder.build([.derivation(drv)]) { log.append($0) }[0]) }
        var waited = 0
        while !log.output.contains("ready") && waited < 500 { usleep(10_000); waited += 1 }
        #expect(log.output.contains("ready"))
        // The output as the builder left it, inside the chroot; the fifo in the build tree.
        let inChroot = "\(f.root)/store/\(drv.baseName).chroot/store/\(out.baseName)"
        #expect(shell("ln '\(canary)' '\(inChroot)/drop/canary'") != nil)
        #expect(shell("for g in '\(f.root)'/tmp/guix-build-foreign.drv-*/top/go; do echo go > \"$g\"; done") != nil)
        thread.join()

        #expect(box.statuses == [.outputRejected])
        #expect(box.results.first?.errorMessage == "invalid ownership on file `\(f.absolute(out))/drop/canary'")
        // Untouched; its second link went with the chroot (removed off the critical path).
        Builder.waitForCleanup()
        #expect(shell("stat -c '%a %u %Y %h' '\(canary)'") == "640 0 1234567890 1\n")
        #expect(!(try f.store.isValidPath(out)))
        #expect(shell("test -e '\(f.absolute(out))'") == nil)
    }

    @Test func poolHardLinksWithinAndAmongOutputsAreAccepted() throws {
        let f = try BuildFixture()
        let s = try settings(f, .pool)
        let drv = try f.derivation("linked", script: """
            mkdir -p $out/d $dev; echo shared > $out/a; ln $out/a $out/d/b; ln $out/a $dev/c; ln $out/a $out/e
            """, outputs: ["out", "dev"])
        let results = Builder(store: f.store, settings: s).build([.derivation(drv)])
        #expect(results[0].status == .built, "\(results[0].errorMessage)")
        let out = f.absolute(try #require(f.output(drv))), dev = f.absolute(try #require(f.output(drv, "dev")))
        #expect(shell("stat -c '%a %u %Y %h' '\(out)/a' '\(out)/d/b' '\(dev)/c'") == "444 0 1 4\n444 0 1 4\n444 0 1 4\n")
    }
}
