import Testing
import Glibc
import StoreFormats
import LocalStore
import LinuxSystem
@testable import Builder

/// security.md regressions that concern the Builder: SEC-02 (builder outside the store), SEC-09
/// (outputs invisible until canonical), SEC-13 (failed outputs never left writable), SEC-14
/// (valid outputs of a partly built derivation are never touched), and the unprivileged daemon
/// (an ordinary user owning the store builds in a user namespace).
@Suite(.serialized, .tags(.large), .enabled(if: geteuid() == 0 && BuildFixture.hasBusybox))
struct SecurityTests {
    @Test func sec02BuilderMustResolveInsideTheStore() throws {
        let f = try BuildFixture()
        // A store item that is a symlink to /proc/self/exe, used as the builder.
        let link = f.root + "/link"
        symlink("/proc/self/exe", link)
        let (nar, _) = try NARDumper.dump(path: link, to: [UInt8]())
        let evil = try f.store.addToStore(nar: ByteArraySource(nar), name: "evil", method: .recursive)
        for builder in ["/proc/self/exe", f.absolute(evil), "sh"] {
            var drv = Derivation(outputs: ["out": .inputAddressed(evil)], inputSources: [evil, f.busybox], platform: "x86_64-linux",
                                 builder: Array(builder.utf8), env: [:])
            var hasher = DerivationHasher(store: f.storeDirectory)
            try drv.fillInOutputPaths(name: "sec02", hasher: &hasher, rules: .guix)
            let drvPath = try f.store.addTextToStore(name: "sec02.drv", contents: drv.render(in: f.storeDirectory),
                                                     references: [evil, f.busybox])
            let results = Builder(store: f.store, settings: f.settings).build([.derivation(drvPath)])
            #expect(results[0].status == .permanentFailure)
            #expect(results[0].errorMessage == "derivation builder `\(builder)' is outside the store")
        }
    }

    @Test func sec09OutputIsInvisibleWhileBuilding() throws {
        let f = try BuildFixture()
        let drv = try f.derivation("sec09", script: "mkdir -p $out/bin; cp $PATH/busybox $out/bin/x; chmod 6755 $out/bin/x; echo ready; sleep 1")
        let out = f.absolute(try #require(f.output(drv)))
        let builder = Builder(store: f.store, settings: f.settings)
        let log = EventLog()
        let box = ResultBox()
        let thread = try SystemThread.start { box.add(builder.build([.derivation(drv)]) { log.append($0) }[0].status) }
        var waited = 0
        while !log.output.contains("ready") && waited < 200 { usleep(10_000); waited += 1 }
        #expect(log.output.contains("ready"))
        #expect(shell("test -e '\(out)'") == nil)
        thread.join()
        #expect(box.statuses == [.built])
        #expect(shell("stat -c '%a %u %Y' '\(out)/bin/x'") == "555 0 1\n")
    }

    @Test func sec13FailedOutputsAreNotKept() throws {
        let f = try BuildFixture()
        let drv = try f.derivation("sec13", script: """
            mkdir -p $out/d; chmod 0777 $out/d; echo x > $out/f; chmod 0666 $out/f; echo y > $out/g; chmod 2755 $out/g
            mkfifo $out/fifo 2>/dev/null; exit 1
            """)
        let results = Builder(store: f.store, settings: f.settings).build([.derivation(drv)])
        #expect(results[0].status == .permanentFailure)
        Builder.waitForCleanup()
        #expect(shell("test -e '\(f.absolute(try #require(f.output(drv))))'") == nil)
        #expect(shell("find '\(f.root)/store' -perm /6022 ! -type l | grep -v '/.links' | wc -l")?.filter { !$0.isWhitespace } == "0")
    }

    @Test(arguments: [true, false])
    func sec14ValidOutputsAreNeverTouched(_ succeed: Bool) throws {
        let f = try BuildFixture()
        let drv = try f.derivation("sec14-\(succeed)", script: "mkdir $out $dev; echo new > $dev/f" + (succeed ? "" : "; exit 1"),
                                   outputs: ["out", "dev"])
        // Make `dev` valid beforehand with other contents.
        let dev = try #require(f.output(drv, "dev"))
        shell("mkdir '\(f.absolute(dev))' && echo old > '\(f.absolute(dev))/f'")
        let (hash, size) = try NARDumper.hash(path: f.absolute(dev))
        try f.store.registerValidPath(ValidPathInfo(path: dev, narHash: hash, narSize: size))
        let results = Builder(store: f.store, settings: f.settings).build([.derivation(drv)])
        #expect(results[0].status == (succeed ? .built : .permanentFailure))
        #expect(try f.store.queryPathInfo(dev)?.narHash == hash)
        #expect(shell("cat '\(f.absolute(dev))/f'") == "old\n")
        let out = try #require(f.output(drv))
        #expect(try f.store.isValidPath(out) == succeed)
    }

    /// The daemon as an ordinary user owning the store: builds run in a user namespace as
    /// 30001/30000, outputs end up owned by that user.
    @Test(.enabled(if: cloisterExecutable != nil))
    func unprivilegedDaemonUserBuilds() throws {
        let f = try BuildFixture()
        let user = "cloistertest-bld"
        try #require(shell("id \(user) >/dev/null 2>&1 || useradd -r -M -d /var/empty -s /usr/sbin/nologin \(user)") != nil)
        let drv = try f.derivation("unpriv", script: "mkdir $out; id -u > $out/uid; id -g > $out/gid; cat /proc/self/uid_map > $out/map")
        try #require(shell("chown -R \(user) '\(f.root)'") != nil)
        let env = "NIX_STORE_DIR='\(f.root)/store' GUIX_STATE_DIRECTORY='\(f.root)/state' GUIX_LOG_DIRECTORY='\(f.root)/log' TMPDIR='\(f.root)/tmp'"
        let output = shell("runuser -u \(user) -- env \(env) '\(cloisterExecutable ?? "")' build -q \(f.absolute(drv)) 2>/dev/null")
        let out = f.absolute(try #require(f.output(drv)))
        #expect(output == out + "\n", "\(output ?? "nil")")
        #expect(shell("cat '\(out)/uid' '\(out)/gid'") == "30001\n30000\n")
        let uid = shell("id -u \(user)")?.filter { !$0.isWhitespace } ?? "?"
        #expect(shell("cat '\(out)/map'")?.split(separator: " ").filter { !$0.isEmpty }.map(String.init) == ["30001", uid, "1\n"])
        #expect(shell("stat -c '%U %a' '\(out)'") == "\(user) 555\n")
    }
}
