import Testing
import Glibc
import StoreFormats
import LocalStore
import LinuxSystem
@testable import Builder

/// Fixed outputs, traces, log formats, exportReferencesGraph (user-namespace mode, as root).
@Suite(.serialized, .tags(.large), .enabled(if: geteuid() == 0 && BuildFixture.hasBusybox))
struct BuildFeatureTests {
    @Test func fixedOutputIsCheckedAndRegistered() throws {
        let f = try BuildFixture()
        let good = Hasher.hash(.sha256, Array("hello, world\n".utf8))
        let drv = try f.derivation("fixed", script: "echo 'hello, world' > $out", fixed: (.flat, good))
        let results = Builder(store: f.store, settings: f.settings).build([.derivation(drv)])
        #expect(results[0].status == .built, "\(results[0].errorMessage)")
        let out = try #require(f.output(drv))
        #expect(out == (try f.storeDirectory.makeFixedOutputPath(method: .flat, hash: good, name: "fixed", rules: .guix)))
        #expect(shell("cat '\(f.absolute(out))'") == "hello, world\n")
        #expect(try f.store.queryPathInfo(out)?.deriver == drv)

        let bad = Hasher.hash(.sha256, Array("something else\n".utf8))
        let wrong = try f.derivation("fixed-wrong", script: "echo 'hello, world' > $out", fixed: (.flat, bad))
        var s = f.settings
        s.printBuildTrace = true
        let log = EventLog()
        let failed = Builder(store: f.store, settings: s).build([.derivation(wrong)]) { log.append($0) }
        let wrongOut = f.absolute(try #require(f.output(wrong)))
        #expect(failed[0].status == .transientFailure)
        #expect(failed[0].errorMessage == "hash mismatch for store item '\(wrongOut)'")
        #expect(log.messages.contains("@ hash-mismatch \(wrongOut) sha256 \(bad.nix32) \(good.nix32)"))
        #expect(shell("test -e '\(wrongOut)'") == nil)
    }

    @Test func executableFlatFixedOutputIsRefused() throws {
        let f = try BuildFixture()
        let h = Hasher.hash(.sha256, Array("x\n".utf8))
        let drv = try f.derivation("fixed-exec", script: "echo x > $out; chmod +x $out", fixed: (.flat, h))
        let results = Builder(store: f.store, settings: f.settings).build([.derivation(drv)])
        let out = f.absolute(try #require(f.output(drv)))
        #expect(results[0].errorMessage == "output path `\(out)' should be a non-executable regular file")
    }

    @Test func buildTracesAndMessages() throws {
        let f = try BuildFixture()
        let a = try f.derivation("traced", script: "echo out; mkdir $out")
        let b = try f.derivation("traced-fail", script: "exit 1")
        var s = f.settings
        s.printBuildTrace = true
        s.keepGoing = true
        let log = EventLog()
        let results = Builder(store: f.store, settings: s).build([.derivation(a), .derivation(b)]) { log.append($0) }
        #expect(results.map(\.status) == [.built, .permanentFailure])
        let messages = log.messages
        let started = messages.filter { $0.hasPrefix("@ build-started \(f.absolute(a)) - x86_64-linux ") }
        #expect(started.count == 1)
        #expect(started.first?.contains(".gz ") == true)
        #expect(messages.contains("@ build-succeeded \(f.absolute(a)) -"))
        #expect(messages.contains("@ build-failed \(f.absolute(b)) - 1 builder for `\(f.absolute(b))' failed with exit code 1"))
        #expect(messages.contains("building path(s) `\(f.absolute(try #require(f.output(a))))'"))
        let failure = Builder.failureMessage(targets: [.derivation(a), .derivation(b)], results: results, store: f.storeDirectory)
        #expect(failure?.message == "builder for `\(f.absolute(b))' failed with exit code 1")
        #expect(failure?.status == 100)
    }

    @Test(arguments: [LogCompression.bzip2, .none])
    func logCompression(_ compression: LogCompression) throws {
        let f = try BuildFixture()
        let drv = try f.derivation("logged", script: "echo line one; echo line two >&2; mkdir $out")
        var s = f.settings
        s.logCompression = compression
        _ = Builder(store: f.store, settings: s).build([.derivation(drv)])
        let path = try #require(BuildLogFile.find(logDirectory: f.configuration.layout.logDirectory, drvPath: drv))
        let base = drv.baseName
        #expect(path == f.configuration.layout.logDirectory + "/drvs/\(base.prefix(2))/\(base.dropFirst(2))" + compression.suffix)
        let reader = compression == .bzip2 ? "bzip2 -dc" : "cat"
        #expect(shell("\(reader) '\(path)'") == "line one\nline two\n")
    }

    @Test func loseLogsWritesNothing() throws {
        let f = try BuildFixture()
        let drv = try f.derivation("unlogged", script: "echo x; mkdir $out")
        var s = f.settings
        s.keepLog = false
        let results = Builder(store: f.store, settings: s).build([.derivation(drv)])
        #expect(results[0].status == .built)
        #expect(BuildLogFile.find(logDirectory: f.configuration.layout.logDirectory, drvPath: drv) == nil)
    }

    @Test func exportReferencesGraphWritesTheClosure() throws {
        let f = try BuildFixture()
        let a = try f.derivation("graph-dep", script: "mkdir $out")
        _ = Builder(store: f.store, settings: f.settings).build([.derivation(a)])
        let outA = f.absolute(try #require(f.output(a)))
        let b = try f.derivation("graph", script: "mkdir $out; cat closure > $out/closure", inputs: [a],
                                 env: ["exportReferencesGraph": "closure \(outA)"])
        let results = Builder(store: f.store, settings: f.settings).build([.derivation(b)])
        #expect(results[0].status == .built, "\(results[0].errorMessage)")
        #expect(shell("cat '\(f.absolute(try #require(f.output(b))))/closure'") == "\(outA)\n\n0\n")
    }

    @Test func queryMissingListsWhatWouldBeBuilt() throws {
        let f = try BuildFixture()
        let a = try f.derivation("qm-a", script: "mkdir $out")
        let b = try f.derivation("qm-b", script: "mkdir $out", inputs: [a])
        let builder = Builder(store: f.store, settings: f.settings)
        #expect(try builder.queryMissing([.derivation(b)]).willBuild == [a, b])
        _ = builder.build([.derivation(a)])
        #expect(try builder.queryMissing([.derivation(b)]).willBuild == [b])
    }

    @Test func keepFailedKeepsTheTreeForTheClient() throws {
        let f = try BuildFixture()
        let drv = try f.derivation("kept", script: "echo data > file; chmod 4777 file; exit 1")
        var s = f.settings
        s.keepFailed = true
        s.clientUID = 65534
        s.clientGID = 65534
        let log = EventLog()
        _ = Builder(store: f.store, settings: s).build([.derivation(drv)]) { log.append($0) }
        let kept = f.root + "/tmp/guix-build-kept.drv-0"
        #expect(log.messages.contains("note: keeping build directory `\(kept)'"))
        #expect(shell("stat -c '%a %u' '\(kept)' '\(kept)/file'") == "755 65534\n755 65534\n")
    }

    @Test func checkModeComparesWithTheValidOutput() throws {
        let f = try BuildFixture()
        let stable = try f.derivation("stable", script: "mkdir $out; echo same > $out/f")
        let unstable = try f.derivation("unstable", script: "mkdir $out; cat /proc/sys/kernel/random/uuid > $out/f")
        let b = Builder(store: f.store, settings: f.settings)
        let missing = b.build([.derivation(stable)], mode: .check)
        #expect(missing[0].errorMessage == "`\(f.absolute(stable))' is missing outputs; build it normally before using `--check'")
        let first = b.build([.derivation(stable), .derivation(unstable)])
        #expect(first.allSatisfy { $0.isSuccess })
        let stableOut = try #require(f.output(stable))
        let info = try f.store.queryPathInfo(stableOut)
        #expect(b.build([.derivation(stable)], mode: .check)[0].status == .built)
        let after = try f.store.queryPathInfo(stableOut)
        #expect(after == info)
        let differs = b.build([.derivation(unstable)], mode: .check)
        #expect(differs[0].status == .notDeterministic)
        let out = f.absolute(try #require(f.output(unstable)))
        #expect(differs[0].errorMessage == "derivation `\(f.absolute(unstable))' may not be deterministic: output `\(out)' differs")
        let unstableOut = try #require(f.output(unstable))
        #expect(try f.store.isValidPath(unstableOut))
    }

    @Test func cancelKillsRunningBuilds() throws {
        let f = try BuildFixture()
        let drv = try f.derivation("endless", script: "echo started; sleep 1000")
        let builder = Builder(store: f.store, settings: f.settings)
        let log = EventLog()
        let box = ResultBox()
        let thread = try SystemThread.start {
            box.add(builder.build([.derivation(drv)]) { log.append($0) }[0].status)
        }
        var waited = 0
        while !log.output.contains("started") && waited < 100 { usleep(50_000); waited += 1 }
        builder.cancel()
        thread.join()
        #expect(box.statuses == [.miscFailure])
        #expect(shell("pgrep -f '^sleep 1000$'") == nil)
    }

    /// `--disable-chroot` (§3.1): the builder runs on the host, as the daemon, writing its
    /// outputs in the store directly; they are still checked, canonicalised and registered.
    @Test func disabledChrootBuildsOnTheHost() throws {
        let f = try BuildFixture()
        let a = try f.derivation("nochroot-dep", script: "mkdir $out; echo dep > $out/f")
        let b = try f.derivation("nochroot", script: "mkdir $out; cat $in0/f > $out/f; echo $in0 >> $out/f; chmod 4755 $out/f; test -d /proc/1", inputs: [a])
        var s = f.settings
        s.useChroot = false
        let results = Builder(store: f.store, settings: s).build([.derivation(b)])
        #expect(results[0].status == .built, "\(results[0].errorMessage)")
        let outA = try #require(f.output(a)), outB = try #require(f.output(b))
        #expect(Set(try f.store.queryReferences(outB)) == [outA])
        #expect(shell("stat -c '%a %Y' '\(f.absolute(outB))/f'") == "555 1\n")
        let failing = try f.derivation("nochroot-fail", script: "mkdir $out; exit 1")
        #expect(Builder(store: f.store, settings: s).build([.derivation(failing)])[0].status == .permanentFailure)
        #expect(shell("test -e '\(f.absolute(try #require(f.output(failing))))'") == nil)
    }
}
