import Testing
import Foundation
import Glibc

/// Debian's Nix 2.8 client building through `cloister-daemon` (issue 5, "Real client"): a
/// static busybox added with `nix-store --add`, a three-level DAG written as a plain `.nix`
/// file, then `nix-instantiate`, `nix-store --realise`, `nix-build`, a failing builder, and the
/// build logs read back with `nix-store --read-log` and `nix log`. The daemon keeps logs as
/// bzip2 (`--log-compression=bzip2`): Nix 2.8 reads logs itself from NIX_LOG_DIR and knows
/// plain and .bz2 files, not guix-daemon's default gzip. Root only (builds run in the chroot).
@Suite(.serialized, .tags(.large),
       .enabled(if: geteuid() == 0 && CLIDaemon.binariesExist && access("/bin/busybox", X_OK) == 0
                && access("/usr/bin/nix-build", X_OK) == 0))
final class NixBuildTests {
    let daemon: CLIDaemon
    let nixEnvironment: [String: String]
    let busybox: String
    let expression: String

    init() throws {
        daemon = try CLIDaemon(daemonArguments: ["--log-compression=bzip2"])
        nixEnvironment = try daemon.nixClient()
        let tree = try daemon.busyboxTree("bb", applets: ["sh"])
        let added = daemon.run("/usr/bin/nix-store", ["--add", tree], extra: nixEnvironment)
        guard added.status == 0 else { throw CLIFailure("nix-store --add: \(added.err)") }
        busybox = added.out.trimmingCharacters(in: .whitespacesAndNewlines)
        // Three levels (c reads b reads a; c names b) plus a builder that fails, one only nix-build builds, one not deterministic.
        expression = try daemon.file("dag.nix", """
            let
              bb = builtins.storePath "\(busybox)";
              box = "${bb}/bin/busybox";
              mk = name: script: derivation {
                inherit name; system = "x86_64-linux"; builder = "${bb}/bin/sh"; args = [ "-c" script ];
              };
            in rec {
              a = mk "level-a" "echo building a; echo a > $out";
              b = mk "level-b" "echo building b; ${box} mkdir $out; ${box} cat ${a} > $out/from-a; echo b >> $out/from-a";
              c = mk "level-c" "echo building c; ${box} cat ${b}/from-a > $out; echo c ${b} >> $out";
              d = mk "level-d" "echo building d; ${box} cat ${c} > $out; echo d >> $out";
              failing = mk "failing" "echo about to fail; exit 3";
              noise = mk "noise" "${box} head -c 16 /dev/urandom > $out";
            }
            """)
    }

    func nix(_ tool: String, _ arguments: [String]) -> CLIDaemon.Run {
        daemon.run("/usr/bin/" + tool, arguments, extra: nixEnvironment)
    }

    func line(_ run: CLIDaemon.Run) -> String { run.out.trimmingCharacters(in: .whitespacesAndNewlines) }

    func instantiate(_ attribute: String) throws -> String {
        let run = nix("nix-instantiate", [expression, "-A", attribute])
        guard run.status == 0 else { throw CLIFailure("nix-instantiate -A \(attribute): \(run.err)") }
        return line(run)
    }

    func contents(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    @Test func busyboxAddedByNix() throws {
        #expect(busybox.hasPrefix(daemon.store + "/") && busybox.hasSuffix("-bb"))
        #expect(access(busybox + "/bin/busybox", X_OK) == 0)
        #expect(line(nix("nix-store", ["-q", "--hash", busybox])).hasPrefix("sha256:"))
        #expect(nix("nix-store", ["--check-validity", busybox]).status == 0)
    }

    @Test func instantiateAndRealiseDAG() throws {
        let drvC = try instantiate("c")
        #expect(drvC.hasPrefix(daemon.store + "/") && drvC.hasSuffix("-level-c.drv"))
        // The .drv's closure: c, b, a and busybox.
        let requisites = line(nix("nix-store", ["-q", "--requisites", drvC])).split(separator: "\n")
        #expect(requisites.count == 4 && requisites.contains { $0.hasSuffix("-level-a.drv") } && requisites.contains { $0 == busybox })
        let outputC = line(nix("nix-store", ["-q", "--outputs", drvC]))
        #expect(outputC.hasSuffix("-level-c"))

        let realised = nix("nix-store", ["--realise", drvC])
        #expect(realised.status == 0)
        #expect(line(realised) == outputC)
        #expect(realised.err.contains("these 3 derivations will be built"))
        for level in ["a", "b", "c"] { #expect(realised.err.contains("building \(level)\n")) }
        let outputB = line(nix("nix-store", ["-q", "--outputs", try instantiate("b")]))
        #expect(contents(outputC) == "a\nb\nc \(outputB)\n")
        #expect(line(nix("nix-store", ["-q", "--deriver", outputC])) == drvC)
        // c names b's output in its file: the daemon's reference scan found it (and only it).
        #expect(line(nix("nix-store", ["-q", "--references", outputC])) == outputB)
        #expect(contents(outputB + "/from-a") == "a\nb\n")
        #expect(nix("nix-store", ["--check-validity", outputC, outputB]).status == 0)

        // Again: nothing left to build, same output.
        let again = nix("nix-store", ["--realise", drvC])
        #expect(again.status == 0 && line(again) == outputC && !again.err.contains("will be built"))
    }

    @Test func nixBuildWithResultLink() throws {
        let result = daemon.root + "/result"
        let built = nix("nix-build", [expression, "-A", "d", "-o", result])
        #expect(built.status == 0)
        let outputD = line(built)
        #expect(outputD.hasPrefix(daemon.store + "/") && outputD.hasSuffix("-level-d"))
        #expect(built.err.contains("these 4 derivations will be built"))
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: result)) == outputD)
        #expect(contents(result)?.hasPrefix("a\nb\nc ") == true && contents(result)?.hasSuffix("-level-b\nd\n") == true)
        // nix-build registered its link as an indirect GC root through the daemon.
        #expect(nix("nix-store", ["-q", "--roots", outputD]).out.contains(result))
        let dead = nix("nix-store", ["--gc", "--print-dead"])
        #expect(dead.status == 0 && !dead.out.contains(outputD))
        // --no-out-link on something already built: just the path.
        let again = nix("nix-build", [expression, "-A", "c", "--no-out-link"])
        #expect(again.status == 0 && line(again).hasSuffix("-level-c") && !again.err.contains("will be built"))
    }

    @Test func failingBuilder() throws {
        let drv = try instantiate("failing")
        let output = line(nix("nix-store", ["-q", "--outputs", drv]))
        let realised = nix("nix-store", ["--realise", drv])
        #expect(realised.status != 0)
        #expect(realised.err.contains("about to fail\n"))
        #expect(realised.err.contains("builder for `\(drv)' failed with exit code 3"))
        #expect(realised.out.isEmpty)
        #expect(nix("nix-store", ["--check-validity", output]).status != 0)
        #expect(access(output, F_OK) != 0)
        let built = nix("nix-build", [expression, "-A", "failing", "--no-out-link"])
        #expect(built.status != 0 && built.err.contains("failed with exit code 3"))
        // Its log is kept all the same.
        #expect(nix("nix-store", ["--read-log", drv]).out == "about to fail\n")
    }

    @Test func buildLogs() throws {
        let drvB = try instantiate("b")
        #expect(nix("nix-store", ["--realise", drvB]).status == 0)
        let outputB = line(nix("nix-store", ["-q", "--outputs", drvB]))
        let drvA = line(nix("nix-store", ["-q", "--references", drvB])).split(separator: "\n")
            .first { $0.hasSuffix("-level-a.drv") }.map(String.init)
        let byDerivation = nix("nix-store", ["--read-log", drvB])
        #expect(byDerivation.status == 0 && byDerivation.out == "building b\n")
        // By output path: the client asks the daemon for the deriver, then reads the log.
        #expect(nix("nix-store", ["-l", outputB]).out == "building b\n")
        if let drvA { #expect(nix("nix-store", ["--read-log", drvA]).out == "building a\n") }
        let nixLog = nix("nix", ["--extra-experimental-features", "nix-command", "log", outputB])
        #expect(nixLog.status == 0 && nixLog.out == "building b\n")
        #expect(nix("nix", ["--extra-experimental-features", "nix-command", "log", drvB]).out == "building b\n")
        // Never built: no log.
        let unbuilt = nix("nix-store", ["--read-log", try instantiate("d")])
        #expect(unbuilt.status != 0 && unbuilt.err.contains("is not available"))
    }

    @Test func dryRunKeepGoingCheckAndNixBuild() throws {
        let drvC = try instantiate("c")
        let outputC = line(nix("nix-store", ["-q", "--outputs", drvC]))
        // QueryMissing: what would be built, nothing built.
        let dry = nix("nix-store", ["--realise", "--dry-run", drvC])
        #expect(dry.status == 0 && dry.err.contains("these 3 derivations will be built") && dry.err.contains("-level-a.drv"))
        #expect(nix("nix-store", ["--check-validity", outputC]).status != 0)
        // An output path without a substitute cannot be realised on its own.
        let bare = nix("nix-store", ["--realise", outputC])
        #expect(bare.status != 0 && bare.err.contains("no substitute"))
        // --check before any build is refused by the daemon.
        #expect(nix("nix-store", ["--realise", "--check", drvC]).err.contains("missing outputs"))

        // --keep-going: c's chain is built although `failing` fails.
        let going = nix("nix-build", [expression, "-A", "failing", "-A", "c", "--keep-going", "--no-out-link"])
        #expect(going.status != 0 && going.err.contains("failed with exit code 3") && going.err.contains("building c\n"))
        #expect(nix("nix-store", ["--check-validity", outputC]).status == 0)

        // --check rebuilds: the same bytes pass, random bytes are reported as not deterministic.
        let checked = nix("nix-store", ["--realise", "--check", drvC])
        #expect(checked.status == 0 && line(checked) == outputC)
        let noise = try instantiate("noise")
        #expect(nix("nix-store", ["--realise", noise]).status == 0)
        let differs = nix("nix-store", ["--realise", "--check", noise])
        #expect(differs.status != 0 && differs.err.contains("may not be deterministic"))

        // The new CLI (experimental in 2.8) builds through the same daemon.
        let drvD = try instantiate("d")
        let outputD = line(nix("nix-store", ["-q", "--outputs", drvD]))
        let built = nix("nix", ["--extra-experimental-features", "nix-command", "build", "-f", expression, "d", "--no-link"])
        #expect(built.status == 0)
        #expect(contents(outputD)?.hasSuffix("\nd\n") == true)
    }
}
