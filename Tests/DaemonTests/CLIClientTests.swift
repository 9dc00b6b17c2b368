import Testing
import Foundation
import Glibc
import StoreFormats

/// `cloister-daemon` as a process on a private store (NIX_STORE_DIR and GUIX_* under a temp
/// dir, so its socket is `<state>/daemon-socket/socket`, found by the CLI the same way), driven
/// by the `cloister` CLI of the same build: add, every query, export/import, gc, and a
/// busybox build through the socket with its log. Root only (builds run in user namespaces).
@Suite(.serialized, .tags(.large), .enabled(if: geteuid() == 0 && CLIDaemon.binariesExist))
final class CLIClientTests {
    let daemon: CLIDaemon

    init() throws { daemon = try CLIDaemon() }

    @Test func addAndQuery() throws {
        let hello = try daemon.file("hello.txt", "hello\n")
        let add = daemon.cloister(["add", hello])
        #expect(add.status == 0)
        // The path Nix computes for `nix-store --add` of "hello\n" (fixed:r:sha256, NAR of 120 bytes).
        let path = add.out.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(path.hasPrefix(daemon.store + "/") && path.hasSuffix("-hello.txt"))
        #expect(daemon.cloister(["query", "--hash", path]).out == "sha256:04zwf782yjwnh3q6hz5izfd6jyip8kgw6g6yj43fiqhbyhdd0dqw\n")
        #expect(daemon.cloister(["query", "--size", path]).out == "120\n")
        #expect(daemon.cloister(["query", "--references", path]) == CLIDaemon.Run(status: 0, out: "", err: ""))
        #expect(daemon.cloister(["query", "--deriver", path]).out == "unknown-deriver\n")
        #expect(daemon.cloister(["query", "--valid", path]).out == path + "\n")
        let bogus = daemon.store + "/00000000000000000000000000000000-x"
        let invalid = daemon.cloister(["query", "--valid", bogus])
        #expect(invalid.status == 1 && invalid.err == "cloister: query: \(bogus): not a valid store item; add it with 'cloister add' or build its derivation\n")

        // A tree that refers to hello.txt by its path: references, referrers, requisites.
        try FileManager.default.createDirectory(atPath: daemon.root + "/tree/sub", withIntermediateDirectories: true)
        _ = try daemon.file("tree/sub/uses", "see \(path)\n")
        try FileManager.default.createSymbolicLink(atPath: daemon.root + "/tree/link", withDestinationPath: "sub/uses")
        let tree = daemon.cloister(["add", daemon.root + "/tree"]).out.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(tree.hasSuffix("-tree"))
        #expect(FileManager.default.fileExists(atPath: tree + "/sub/uses"))
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: tree + "/link")) == "sub/uses")
        // Added trees carry no references (as `nix-store --add`); the closure is the item itself.
        #expect(daemon.cloister(["query", "--requisites", tree]).out == tree + "\n")
        #expect(daemon.cloister(["query", "--referrers", path]).out == "")
        // A file inside an item names the item.
        #expect(daemon.cloister(["query", "--size", tree + "/sub/uses"]).status == 0)
        let unknown = daemon.cloister(["query", "--frobnicate", path])
        #expect(unknown.status == 1 && unknown.err == "cloister: query: unrecognized option '--frobnicate'\n")
    }

    @Test func exportImportRoundTrip() throws {
        let hello = try daemon.file("round.txt", "round trip\n")
        let path = daemon.cloister(["add", hello]).out.trimmingCharacters(in: .whitespacesAndNewlines)
        let archive = daemon.root + "/round.nar"
        // Exports are signed, as guix archive's: the daemon needs its key.
        #expect(daemon.cloister(["archive", "--generate-key"]).status == 0)
        #expect(daemon.shell("'\(CLIDaemon.cloisterBinary)' archive --export '\(path)' > '\(archive)'").status == 0)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: archive))
        // u64 1, NAR, "NIXE", path, refs, deriver, u64 1 + signature, u64 0; a trusted Nix-dialect
        // import takes it without checking the signature.
        #expect(bytes.prefix(8) == Data([1, 0, 0, 0, 0, 0, 0, 0]) && bytes.suffix(8) == Data(repeating: 0, count: 8))
        // The same bytes Debian's nix-store writes for the same item, when it is installed.
        #expect(daemon.cloister(["gc", "--delete", path]).status == 0)
        #expect(daemon.cloister(["query", "--valid", path]).status == 1)
        let imported = daemon.shell("'\(CLIDaemon.cloisterBinary)' archive --import < '\(archive)'")
        #expect(imported.status == 0 && imported.out == path + "\n")
        #expect(daemon.cloister(["query", "--valid", path]).status == 0)
        #expect((try? String(contentsOfFile: path, encoding: .utf8)) == "round trip\n")
        let garbage = daemon.shell("echo garbage | '\(CLIDaemon.cloisterBinary)' archive --import")
        #expect(garbage.status == 1 && garbage.err.hasPrefix("cloister: archive: "))
    }

    @Test func gcThroughDaemon() throws {
        let path = daemon.cloister(["add", try daemon.file("dead.txt", "dead\n")]).out.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(daemon.cloister(["gc", "--list-dead"]).out.contains(path))
        #expect(!daemon.cloister(["gc", "--list-live"]).out.contains(path))
        #expect(daemon.cloister(["gc", "--list-roots"]).status == 0)
        #expect(daemon.cloister(["gc", "--verify=contents"]).status == 0)
        let collected = daemon.cloister(["gc"])
        #expect(collected.status == 0 && collected.err.contains("deleting `\(path)'"))
        #expect(!FileManager.default.fileExists(atPath: path))
        // The direct path still works with --local.
        #expect(daemon.cloister(["gc", "--local", "--list-dead"]) == CLIDaemon.Run(status: 0, out: "", err: ""))
    }

    @Test func errorsNameTheObjectAndTheFix() throws {
        let missing = daemon.cloister(["add", daemon.root + "/missing"])
        #expect(missing == CLIDaemon.Run(status: 1, out: "", err: "cloister: add: \(daemon.root)/missing: No such file or directory\n"))
        let drv = daemon.store + "/00000000000000000000000000000000-x.drv"
        #expect(daemon.cloister(["build", drv]).err
                == "cloister: build: \(drv): not a valid derivation in the store; add it (give its .drv file, or write it with 'cloister derivation new')\n")
        #expect(daemon.cloister(["query", "--hash", "/etc/passwd"]).err
                == "cloister: query: /etc/passwd: not a store item (store items are under \(daemon.store)/)\n")
        #expect(daemon.cloister(["derivation", "new", "x"]).err == "cloister: derivation: --builder=PATH (absolute) is required\n")
        #expect(daemon.cloister(["build", "--max-jobs=lots", drv]).err == "cloister: build: --max-jobs: 'lots' is not a number\n")
    }

    @Test func noDaemon() throws {
        let missing = daemon.cloister(["query", "--size", daemon.store + "/x"], extra: ["GUIX_DAEMON_SOCKET": daemon.root + "/nothing"])
        #expect(missing.status == 1)
        #expect(missing.err.hasPrefix("cloister: query: cannot connect to the daemon at \(daemon.root)/nothing: No such file or directory; start the daemon"))
    }

    @Test(.enabled(if: access("/bin/busybox", X_OK) == 0))
    func buildThroughDaemonAndLog() throws {
        let busybox = try daemon.addBusybox()
        let greeting = try daemon.derivation("greeting", busybox: busybox, script: "echo hello from the sandbox; echo hi > $out")
        let user = try daemon.derivation("user", busybox: busybox, script: "echo using $in0; echo $in0 > $out; cat $in0 >> $out",
                                         inputs: [greeting])
        let built = daemon.cloister(["build", "-M", "2", user.file])
        #expect(built.status == 0)
        #expect(built.out == user.output + "\n")
        #expect(built.err.contains("The following derivations will be built:"))
        #expect(built.err.contains("[2/2 built, 0 running, 0 left] built \(user.drvPath)"))
        #expect(built.err.contains("hello from the sandbox"))
        #expect((try? String(contentsOfFile: user.output, encoding: .utf8)) == greeting.output + "\nhi\n")
        #expect(daemon.cloister(["query", "--deriver", user.output]).out == user.drvPath + "\n")
        #expect(daemon.cloister(["query", "--references", user.output]).out == greeting.output + "\n")
        #expect(daemon.cloister(["log", user.output]).out == "using \(greeting.output)\n")
        #expect(daemon.cloister(["log", greeting.drvPath]).out == "hello from the sandbox\n")
        // Again: nothing to build, same output.
        let again = daemon.cloister(["build", user.drvPath])
        #expect(again == CLIDaemon.Run(status: 0, out: user.output + "\n", err: "nothing to build: the outputs are valid already\n"))
        let status = daemon.cloister(["status"])
        #expect(status.status == 0 && status.out.contains("protocol: 0x164") && status.out.contains("store: \(daemon.store)\n"))
        // --check rebuilds and compares (the builder is deterministic).
        #expect(daemon.cloister(["build", "--check", "-q", greeting.drvPath]).status == 0)

        // On a terminal (util-linux `script` gives one): a status line redrawn in place with the
        // current build's last log line.
        if access("/usr/bin/script", X_OK) == 0 {
            let chatty = try daemon.derivation("chatty", busybox: busybox, script: "echo first line; sleep 0.3; echo second line; sleep 0.3; echo ok > $out")
            let tty = daemon.shell("script -qec \"'\(CLIDaemon.cloisterBinary)' build \(chatty.file)\" /dev/null")
            #expect(tty.status == 0)
            #expect(tty.out.contains("\r\u{1B}[K[0/1 built, 1 running, 0 left] building chatty.drv: first line"))
            #expect(tty.out.contains("\r\u{1B}[K[0/1 built, 1 running, 0 left] building chatty.drv: second line"))
            #expect(tty.out.contains("[1/1 built, 0 running, 0 left] built \(chatty.drvPath)\r\n"))
            #expect(tty.out.hasSuffix(chatty.output + "\r\n"))
        }

        let failing = try daemon.derivation("failing", busybox: busybox, script: "echo about to fail; exit 3")
        let failed = daemon.cloister(["build", failing.file])
        #expect(failed.status == 100)
        #expect(failed.err.contains("about to fail"))
        #expect(failed.err.hasSuffix("cloister: build: builder for `\(failing.drvPath)' failed with exit code 3\n"))
        let slow = try daemon.derivation("slow", busybox: busybox, script: "sleep 10")
        let timedOut = daemon.cloister(["build", "--timeout=1", slow.file])
        #expect(timedOut.status == 101)
        #expect(timedOut.err.contains("timed out"))
        let local = daemon.cloister(["build", "--build-users-group=nobody", greeting.file])
        #expect(local.status == 1 && local.err.hasPrefix("cloister: build: --build-users-group is set on the daemon's command line"))
    }
}
