import Testing
@testable import Daemon

/// `--help`, `--usage`, `--version`: the option list and the usage text are byte for byte what
/// glibc argp prints for guix-daemon's table (goldens produced by argp_parse in C), and the help
/// goes on with the description, the environment and the defaults.
@Suite(.tags(.small))
struct OptionsHelpTests {
    static let helpHead = #"""
Usage: cloister-daemon [OPTION...]
cloister-daemon -- perform derivation builds and store accesses

      --build-users-group=GROUP   perform builds as a user of GROUP
      --cache-failures       cache build failures
      --chroot-directory=DIR add DIR to the build chroot
  -c, --cores=N              use N CPU cores to build each derivation; 0 means
                             as many as available
      --debug                produce debugging output
      --disable-chroot       disable chroot builds
      --disable-deduplication   disable automatic file "deduplication" in the
                             store
      --discover[=yes/no]    use substitute servers discovered on the local
                             network
      --gc-keep-derivations[=yes/no]
                             tell whether the GC must keep derivations
                             corresponding to live outputs
      --gc-keep-outputs[=yes/no]   tell whether the GC must keep outputs of
                             live derivations
      --impersonate-linux-2.6   impersonate Linux 2.6
      --isolate-host-loopback   do not allow fixed-output chroot builds to
                             access the host loopback
      --listen=SOCKET        listen for connections on SOCKET
      --log-compression=TYPE use the specified compression type for build logs
      --lose-logs            do not keep build logs
      --max-silent-time=SECONDS   mark builds as failed after SECONDS of
                             silence
  -M, --max-jobs=N           allow at most N build jobs
      --no-offload           do not attempt to offload builds
      --no-substitutes       do not use substitutes
      --rounds=N             build each derivation N times in a row
      --substitute-urls=URLS use URLS as the default list of substitute
                             providers
      --system=SYSTEM        assume SYSTEM as the current system type
      --timeout=SECONDS      mark builds as failed after SECONDS of activity
  -?, --help                 Give this help list
      --usage                Give a short usage message
  -V, --version              Print program version

Mandatory or optional arguments to long options are also mandatory or optional
for any corresponding short options.
"""#

    static let usage = #"""
Usage: cloister-daemon [-?V] [-c N] [-M N] [--build-users-group=GROUP]
            [--cache-failures] [--chroot-directory=DIR] [--cores=N] [--debug]
            [--disable-chroot] [--disable-deduplication] [--discover[=yes/no]]
            [--gc-keep-derivations[=yes/no]] [--gc-keep-outputs[=yes/no]]
            [--impersonate-linux-2.6] [--isolate-host-loopback]
            [--listen=SOCKET] [--log-compression=TYPE] [--lose-logs]
            [--max-silent-time=SECONDS] [--max-jobs=N] [--no-offload]
            [--no-substitutes] [--rounds=N] [--substitute-urls=URLS]
            [--system=SYSTEM] [--timeout=SECONDS] [--help] [--usage]
            [--version]
"""#

    @Test(arguments: [["--help"], ["-?"], ["--he"], ["--debug", "--help", "--x"], ["foo", "--help"]])
    func helpStartsWithArgpsText(_ arguments: [String]) throws {
        guard case .exit(0, let out, "") = DaemonCommandLine.parse(["/usr/sbin/cloister-daemon"] + arguments) else {
            Issue.record("help did not exit 0 quietly")
            return
        }
        #expect(out.hasPrefix(Self.helpHead + "\n"))
    }

    @Test func helpIsManStyleAndFitsTheTerminal() throws {
        guard case .exit(0, let out, "") = DaemonCommandLine.parse(["cloister-daemon", "--help"]) else {
            Issue.record("help did not exit 0")
            return
        }
        for line in out.split(separator: "\n") { #expect(line.count <= 78, "\(line)") }
        for option in DaemonOption.table where !option.hidden {
            #expect(out.contains("--\(option.long)"), "\(option.long) missing from --help")
        }
        for option in DaemonOption.table where option.hidden {
            #expect(!out.contains("--\(option.long)"), "hidden \(option.long) shown")
        }
        for (name, _) in DaemonConfiguration.environmentVariables {
            #expect(out.contains(name))
        }
        #expect(out.contains("Environment:"))
        #expect(out.contains("--timeout=86400"))
        #expect(out.hasSuffix(".\n"))
    }

    @Test(arguments: [["--usage"], ["--us"], ["--usage", "--help"]])
    func usageIsArgps(_ arguments: [String]) {
        #expect(DaemonCommandLine.parse(["/bin/cloister-daemon"] + arguments)
                == .exit(status: 0, standardOutput: Self.usage + "\n", standardError: ""))
    }

    @Test(arguments: [["--version"], ["-V"], ["--vers"], ["-Vx"], ["--version", "--x"], ["--cores=x", "-V"]])
    func versionPrintsOneLine(_ arguments: [String]) {
        #expect(DaemonCommandLine.parse(["cloister-daemon"] + arguments)
                == .exit(status: 0, standardOutput: "cloister-daemon (Cloister) \(DaemonHelp.version)\n", standardError: ""))
    }

    @Test func programNameAppearsInHelp() {
        guard case .exit(0, let out, _) = DaemonCommandLine.parse(["x", "--program-name=/usr/bin/guix-daemon", "--help"]) else {
            Issue.record("no help")
            return
        }
        #expect(out.hasPrefix("Usage: guix-daemon [OPTION...]\n"))
    }

    @Test func wrapKeepsDoubleSpacesAndBreaksAtBlanks() {
        let text = DaemonHelp.wrap(String(repeating: "word ", count: 20) + "end.  Next", indent: 4, firstLine: "")
        let lines = text.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines.allSatisfy { $0.count <= 78 })
        #expect(lines[1].hasPrefix("    "))
        #expect(text.contains("end.  Next"))
    }
}
