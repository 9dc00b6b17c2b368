import Testing
import Glibc
import StoreFormats
import LocalStore
import LinuxSystem
@testable import Builder

/// `--rounds=N` (guix-daemon.md §4.9): each derivation is built N times and every round's
/// outputs compared with the previous round's; a difference fails the build with Guix's
/// message and nothing is registered; fixed outputs build once. User-namespace mode, as root.
extension BuildFeatureTests {
    @Test func roundsBuildAgainAndRegisterOnce() throws {
        let f = try BuildFixture()
        let drv = try f.derivation("rounds", script: "echo round; mkdir $out; echo same > $out/f; echo $out > $out/self")
        var s = f.settings
        s.buildRepeat = 2
        let log = EventLog()
        let results = Builder(store: f.store, settings: s).build([.derivation(drv)]) { log.append($0) }
        #expect(results[0].status == .built, "\(results[0].errorMessage)")
        #expect(results[0].timesBuilt == 3)
        #expect(log.output == "round\nround\nround\n")
        let out = try #require(f.output(drv))
        #expect(try f.store.isValidPath(out))
        #expect(Set(try f.store.queryReferences(out)) == [out])
        #expect(shell("cat '\(f.absolute(out))/f'") == "same\n")
        Builder.waitForCleanup()
        #expect(shell("ls -a '\(f.root)/store' | grep -c chroot") == nil)
    }

    @Test func roundsThatDifferFailWithGuixsMessage() throws {
        let f = try BuildFixture()
        let drv = try f.derivation("noise", script: "mkdir $out; cat /proc/sys/kernel/random/uuid > $out/f")
        var s = f.settings
        s.buildRepeat = 1
        let results = Builder(store: f.store, settings: s).build([.derivation(drv)])
        let out = try #require(f.output(drv))
        #expect(results[0].status == .notDeterministic)
        #expect(results[0].errorMessage == "output ‘\(f.absolute(out))’ of ‘\(f.absolute(drv))’ differs from previous round")
        #expect(workerExitStatus(results) == 1)
        #expect(!(try f.store.isValidPath(out)))
        #expect(shell("test -e '\(f.absolute(out))'") == nil)
        // Without rounds the same derivation builds.
        #expect(Builder(store: f.store, settings: f.settings).build([.derivation(drv)])[0].status == .built)
    }

    @Test func fixedOutputsBuildOnceWhateverTheRounds() throws {
        let f = try BuildFixture()
        let content: [UInt8] = Array("hello, world\n".utf8)
        let drv = try f.derivation("fixed-rounds", script: "echo round; echo 'hello, world' > $out",
                                   fixed: (.flat, Hasher.hash(.sha256, content)))
        var s = f.settings
        s.buildRepeat = 3
        let log = EventLog()
        let results = Builder(store: f.store, settings: s).build([.derivation(drv)]) { log.append($0) }
        #expect(results[0].status == .built, "\(results[0].errorMessage)")
        #expect(results[0].timesBuilt == 1)
        #expect(log.output == "round\n")
    }
}

/// With `-K` (§4.9) the output to compare with is kept at `P-check`: the first round's, named
/// in the message when a later round differs (and removed when all rounds agree), or the
/// differing output of `--check`.
extension BuildFeatureTests {
    @Test func keepFailedKeepsTheFirstRoundAtCheckPath() throws {
        let f = try BuildFixture()
        let noise = try f.derivation("noise-k", script: "mkdir $out; cat /proc/sys/kernel/random/uuid > $out/f")
        let stable = try f.derivation("stable-k", script: "mkdir $out; echo same > $out/f")
        var s = f.settings
        s.buildRepeat = 1
        s.keepFailed = true
        let builder = Builder(store: f.store, settings: s)
        let differs = builder.build([.derivation(noise)])
        let out = f.absolute(try #require(f.output(noise)))
        #expect(differs[0].status == .notDeterministic)
        #expect(differs[0].errorMessage == "output ‘\(out)’ of ‘\(f.absolute(noise))’ differs from ‘\(out)-check’ from previous round")
        #expect(shell("stat -c '%a %Y' '\(out)-check' '\(out)-check/f'") == "555 1\n444 1\n")
        #expect(shell("test -e '\(out)'") == nil)
        #expect(builder.build([.derivation(stable)])[0].status == .built)
        let stableOut = f.absolute(try #require(f.output(stable)))
        #expect(shell("test -e '\(stableOut)-check'") == nil)
    }

    @Test func checkWithKeepFailedKeepsTheDifferingOutput() throws {
        let f = try BuildFixture()
        let noise = try f.derivation("noise-check", script: "mkdir $out; cat /proc/sys/kernel/random/uuid > $out/f")
        #expect(Builder(store: f.store, settings: f.settings).build([.derivation(noise)])[0].status == .built)
        let path = try #require(f.output(noise))
        let before = try f.store.queryPathInfo(path)
        var s = f.settings
        s.keepFailed = true
        let checked = Builder(store: f.store, settings: s).build([.derivation(noise)], mode: .check)
        let out = f.absolute(path)
        #expect(checked[0].status == .notDeterministic)
        #expect(checked[0].errorMessage == "derivation `\(f.absolute(noise))' may not be deterministic: output `\(out)' differs from `\(out)-check'")
        #expect(shell("stat -c '%a %Y' '\(out)-check' '\(out)-check/f'") == "555 1\n444 1\n")
        #expect(shell("cmp -s '\(out)/f' '\(out)-check/f'") == nil)
        #expect(try f.store.queryPathInfo(path) == before)
    }
}
