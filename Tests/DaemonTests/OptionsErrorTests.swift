import Testing
@testable import Daemon

/// Invalid forms of every option. The usage errors (status 64) are compared byte for byte with
/// what glibc's argp prints for guix-daemon's option table: each golden first line below was
/// produced by a C program calling argp_parse with that table (run as
/// /usr/bin/cloister-daemon), and argp's "Try …" line follows it, wrapped at 78 columns.
@Suite(.tags(.small))
struct OptionsErrorTests {
    static let program = "/usr/bin/cloister-daemon"
    static let tryLine = "Try `cloister-daemon --help' or `cloister-daemon --usage' for more\ninformation.\n"

    struct Golden: Sendable, CustomTestStringConvertible {
        let arguments: [String]
        let firstLine: String
        init(_ arguments: [String], _ firstLine: String) {
            self.arguments = arguments
            self.firstLine = firstLine
        }
        var testDescription: String { arguments.joined(separator: " ") }
    }

    static let usageErrors: [Golden] = [
        Golden(["--x"], "/usr/bin/cloister-daemon: unrecognized option '--x'"),
        Golden(["--x=1"], "/usr/bin/cloister-daemon: unrecognized option '--x=1'"),
        Golden(["-x"], "/usr/bin/cloister-daemon: invalid option -- 'x'"),
        Golden(["-xV"], "/usr/bin/cloister-daemon: invalid option -- 'x'"),
        Golden(["--no-"], "/usr/bin/cloister-daemon: option '--no-' is ambiguous; possibilities: '--no-substitutes' '--no-offload' '--no-build-hook'"),
        Golden(["--d"], "/usr/bin/cloister-daemon: option '--d' is ambiguous; possibilities: '--disable-chroot' '--disable-log-compression' '--discover' '--disable-deduplication' '--disable-store-optimization' '--debug'"),
        Golden(["--gc-keep-"], "/usr/bin/cloister-daemon: option '--gc-keep-' is ambiguous; possibilities: '--gc-keep-outputs' '--gc-keep-derivations'"),
        Golden(["--s"], "/usr/bin/cloister-daemon: option '--s' is ambiguous; possibilities: '--system' '--substitute-urls'"),
        Golden(["--lo"], "/usr/bin/cloister-daemon: option '--lo' is ambiguous; possibilities: '--lose-logs' '--log-compression'"),
        Golden(["--disable-"], "/usr/bin/cloister-daemon: option '--disable-' is ambiguous; possibilities: '--disable-chroot' '--disable-log-compression' '--disable-deduplication' '--disable-store-optimization'"),
        Golden(["--disable-=1"], "/usr/bin/cloister-daemon: option '--disable-=1' is ambiguous; possibilities: '--disable-chroot' '--disable-log-compression' '--disable-deduplication' '--disable-store-optimization'"),
        Golden(["--m"], "/usr/bin/cloister-daemon: option '--m' is ambiguous; possibilities: '--max-jobs' '--max-silent-time'"),
        Golden(["--max-"], "/usr/bin/cloister-daemon: option '--max-' is ambiguous; possibilities: '--max-jobs' '--max-silent-time'"),
        Golden(["--i"], "/usr/bin/cloister-daemon: option '--i' is ambiguous; possibilities: '--impersonate-linux-2.6' '--isolate-host-loopback'"),
        Golden(["--listen"], "/usr/bin/cloister-daemon: option '--listen' requires an argument"),
        Golden(["--build-users-group"], "/usr/bin/cloister-daemon: option '--build-users-group' requires an argument"),
        Golden(["--cores"], "/usr/bin/cloister-daemon: option '--cores' requires an argument"),
        Golden(["-c"], "/usr/bin/cloister-daemon: option requires an argument -- 'c'"),
        Golden(["-M"], "/usr/bin/cloister-daemon: option requires an argument -- 'M'"),
        Golden(["-M5", "-c"], "/usr/bin/cloister-daemon: option requires an argument -- 'c'"),
        Golden(["--system"], "/usr/bin/cloister-daemon: option '--system' requires an argument"),
        Golden(["--timeout"], "/usr/bin/cloister-daemon: option '--timeout' requires an argument"),
        Golden(["--max-silent-time"], "/usr/bin/cloister-daemon: option '--max-silent-time' requires an argument"),
        Golden(["--chroot-directory"], "/usr/bin/cloister-daemon: option '--chroot-directory' requires an argument"),
        Golden(["--substitute-urls"], "/usr/bin/cloister-daemon: option '--substitute-urls' requires an argument"),
        Golden(["--rounds"], "/usr/bin/cloister-daemon: option '--rounds' requires an argument"),
        Golden(["--log-compression"], "/usr/bin/cloister-daemon: option '--log-compression' requires an argument"),
        Golden(["--program-name"], "/usr/bin/cloister-daemon: option '--program-name' requires an argument"),
        Golden(["--disable-chroot=1"], "/usr/bin/cloister-daemon: option '--disable-chroot' doesn't allow an argument"),
        Golden(["--no-substitutes=yes"], "/usr/bin/cloister-daemon: option '--no-substitutes' doesn't allow an argument"),
        Golden(["--no-offload=no"], "/usr/bin/cloister-daemon: option '--no-offload' doesn't allow an argument"),
        Golden(["--no-build-hook=3"], "/usr/bin/cloister-daemon: option '--no-build-hook' doesn't allow an argument"),
        Golden(["--cache-failures=1"], "/usr/bin/cloister-daemon: option '--cache-failures' doesn't allow an argument"),
        Golden(["--lose-logs=1"], "/usr/bin/cloister-daemon: option '--lose-logs' doesn't allow an argument"),
        Golden(["--disable-log-compression=1"], "/usr/bin/cloister-daemon: option '--disable-log-compression' doesn't allow an argument"),
        Golden(["--disable-deduplication=1"], "/usr/bin/cloister-daemon: option '--disable-deduplication' doesn't allow an argument"),
        Golden(["--disable-store-optimization=1"], "/usr/bin/cloister-daemon: option '--disable-store-optimization' doesn't allow an argument"),
        Golden(["--impersonate-linux-2.6=1"], "/usr/bin/cloister-daemon: option '--impersonate-linux-2.6' doesn't allow an argument"),
        Golden(["--debug=1"], "/usr/bin/cloister-daemon: option '--debug' doesn't allow an argument"),
        Golden(["--isolate-host-loopback=1"], "/usr/bin/cloister-daemon: option '--isolate-host-loopback' doesn't allow an argument"),
        Golden(["--help=1"], "/usr/bin/cloister-daemon: option '--help' doesn't allow an argument"),
        Golden(["--version=1"], "/usr/bin/cloister-daemon: option '--version' doesn't allow an argument"),
        Golden(["--usage=1"], "/usr/bin/cloister-daemon: option '--usage' doesn't allow an argument"),
        Golden(["--disable-store=x"], "/usr/bin/cloister-daemon: option '--disable-store-optimization' doesn't allow an argument"),
        Golden(["foo"], "cloister-daemon: Too many arguments"),
        Golden(["--gc-keep-outputs", "yes"], "cloister-daemon: Too many arguments"),
        Golden(["--discover", "no"], "cloister-daemon: Too many arguments"),
        Golden(["--gc-keep-derivations", "no"], "cloister-daemon: Too many arguments"),
        Golden(["--", "--debug"], "cloister-daemon: Too many arguments"),
        Golden(["-"], "cloister-daemon: Too many arguments"),
        Golden(["--x", "--version"], "/usr/bin/cloister-daemon: unrecognized option '--x'"),
        Golden(["--=x"], "/usr/bin/cloister-daemon: option '--=x' is ambiguous; possibilities: '--system' '--cores' '--max-jobs' '--timeout' '--max-silent-time' '--disable-chroot' '--chroot-directory' '--build-users-group' '--no-substitutes' '--substitute-urls' '--no-offload' '--no-build-hook' '--cache-failures' '--rounds' '--lose-logs' '--disable-log-compression' '--log-compression' '--discover' '--disable-deduplication' '--disable-store-optimization' '--impersonate-linux-2.6' '--gc-keep-outputs' '--gc-keep-derivations' '--listen' '--debug' '--isolate-host-loopback' '--help' '--usage' '--program-name' '--HANG' '--version'"),
        Golden(["-c", "3", "x"], "cloister-daemon: Too many arguments"),
        Golden(["x", "--y"], "/usr/bin/cloister-daemon: unrecognized option '--y'"),
        Golden(["--debug", "extra", "--cores=2"], "cloister-daemon: Too many arguments"),
    ]

    @Test(arguments: usageErrors)
    func usageErrorMatchesArgp(_ golden: Golden) {
        let outcome = DaemonCommandLine.parse([Self.program] + golden.arguments)
        #expect(outcome == .exit(status: 64, standardOutput: "", standardError: golden.firstLine + "\n" + Self.tryLine))
    }

    /// guix-daemon's own checks: `error: …` on stderr, status 1 (EXIT_FAILURE).
    static let valueErrors: [([String], String)] = [
        (["--cores=x"], "configuration setting `build-cores' should have an integer value"),
        (["-c", "1.5"], "configuration setting `build-cores' should have an integer value"),
        (["--cores="], "configuration setting `build-cores' should have an integer value"),
        (["--cores=4294967296"], "configuration setting `build-cores' should have an integer value"),
        (["--cores=0x10"], "configuration setting `build-cores' should have an integer value"),
        (["-M", "y"], "configuration setting `build-max-jobs' should have an integer value"),
        (["--max-jobs=2 "], "configuration setting `build-max-jobs' should have an integer value"),
        (["--timeout=abc"], "configuration setting `build-timeout' should have an integer value"),
        (["--timeout", "--"], "configuration setting `build-timeout' should have an integer value"),
        (["--timeout=99999999999999999999"], "configuration setting `build-timeout' should have an integer value"),
        (["--max-silent-time=1h"], "configuration setting `build-max-silent-time' should have an integer value"),
        // Settings::update checks build-max-jobs before build-cores, whatever the argv order.
        (["--cores=x", "--max-jobs=y"], "configuration setting `build-max-jobs' should have an integer value"),
        (["--timeout=x", "--max-silent-time=y"], "configuration setting `build-max-silent-time' should have an integer value"),
        (["--rounds=x"], "x: invalid number of rounds"),
        (["--rounds=2x"], "2x: invalid number of rounds"),
        (["--rounds", "0"], "0: invalid number of rounds"),
        (["--rounds="], ": invalid number of rounds"),
        (["--log-compression=xz"], "xz: unknown compression type"),
        (["--log-compression=GZIP"], "GZIP: unknown compression type"),
        (["--log-compression="], ": unknown compression type"),
        (["--discover=maybe"], "'maybe': invalid Boolean value"),
        (["--discover="], "'': invalid Boolean value"),
        (["--gc-keep-outputs=1"], "'1': invalid Boolean value"),
        (["--gc-keep-outputs=true"], "'true': invalid Boolean value"),
        (["--gc-keep-derivations=y"], "'y': invalid Boolean value"),
        // These stop at once, in argv order, before later options and before the integers.
        (["--log-compression=xz", "--x"], "xz: unknown compression type"),
        (["--cores=x", "--discover=0"], "'0': invalid Boolean value"),
        (["--rounds=q", "--log-compression=xz"], "q: invalid number of rounds"),
        // Non-options are only looked at after every option.
        (["foo", "--log-compression=xz"], "xz: unknown compression type"),
    ]

    @Test(arguments: valueErrors)
    func valueErrorIsGuixDaemons(_ arguments: [String], _ message: String) {
        let outcome = DaemonCommandLine.parse([Self.program] + arguments)
        #expect(outcome == .exit(status: 1, standardOutput: "", standardError: "error: \(message)\n"))
    }

    @Test func usageErrorComesBeforeLaterValueErrors() {
        let outcome = DaemonCommandLine.parse([Self.program, "--x", "--log-compression=xz"])
        #expect(outcome == .exit(status: 64, standardOutput: "",
                                 standardError: "\(Self.program): unrecognized option '--x'\n" + Self.tryLine))
    }

    @Test func tooManyArgumentsComesBeforeIntegerErrors() {
        let outcome = DaemonCommandLine.parse([Self.program, "foo", "--cores=x"])
        #expect(outcome == .exit(status: 64, standardOutput: "",
                                 standardError: "cloister-daemon: Too many arguments\n" + Self.tryLine))
    }

    @Test func programNameChangesArgpsNameButNotGetopts() {
        let outcome = DaemonCommandLine.parse(["./d", "--program-name=/opt/guix-daemon", "--x"])
        #expect(outcome == .exit(status: 64, standardOutput: "", standardError:
            "./d: unrecognized option '--x'\nTry `guix-daemon --help' or `guix-daemon --usage' for more information.\n"))
    }
}
