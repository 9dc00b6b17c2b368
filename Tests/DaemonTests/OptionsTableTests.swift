import Testing
@testable import Daemon

/// Every option of guix-daemon.md §6.1, in the forms guix-daemon accepts, checked against the
/// table's effect and default; invalid forms are in OptionsErrorTests.
@Suite(.tags(.small))
struct OptionsTableTests {
    /// argv (after the program name) and the expected change from the defaults.
    struct Case: Sendable, CustomTestStringConvertible {
        let arguments: [String]
        let change: @Sendable (inout DaemonConfiguration) -> Void
        init(_ arguments: String..., change: @escaping @Sendable (inout DaemonConfiguration) -> Void) {
            self.arguments = arguments
            self.change = change
        }
        var testDescription: String { arguments.joined(separator: " ") }
    }

    static let cases: [Case] = [
        Case("--build-users-group=guixbuild") { $0.buildUsersGroup = "guixbuild" },
        Case("--build-users-group", "guixbuild") { $0.buildUsersGroup = "guixbuild" },
        Case("--cores=4") { $0.buildCores = 4 },
        Case("--cores", "4") { $0.buildCores = 4 },
        Case("-c", "4") { $0.buildCores = 4 },
        Case("-c4") { $0.buildCores = 4 },
        Case("--cores=0") { $0.buildCores = 0 },
        Case("--max-jobs=3") { $0.maxBuildJobs = 3 },
        Case("-M", "3") { $0.maxBuildJobs = 3 },
        Case("-M0") { $0.maxBuildJobs = 0 },
        Case("--max-jobs", "+7") { $0.maxBuildJobs = 7 },
        // istream >> unsigned int: leading blanks are skipped and a minus sign wraps.
        Case("--max-jobs= 2") { $0.maxBuildJobs = 2 },
        Case("--max-jobs=-1") { $0.maxBuildJobs = 4_294_967_295 },
        Case("--timeout=60") { $0.buildTimeout = 60 },
        Case("--timeout", "0") { $0.buildTimeout = 0 },
        Case("--max-silent-time=10") { $0.maxSilentTime = 10 },
        Case("--max-silent-time", "0") { $0.maxSilentTime = 0 },
        Case("--disable-chroot") { $0.useChroot = false },
        Case("--chroot-directory=/etc/ssl") { $0.extraChrootDirectories = ["/etc/ssl"] },
        Case("--chroot-directory", "/a=/b") { $0.extraChrootDirectories = ["/a=/b"] },
        Case("--chroot-directory=/a", "--chroot-directory=/b", "--chroot-directory", "/c=/d") {
            $0.extraChrootDirectories = ["/a", "/b", "/c=/d"]
        },
        // build-extra-chroot-dirs is one space-separated setting.
        Case("--chroot-directory=/a /b") { $0.extraChrootDirectories = ["/a", "/b"] },
        Case("--no-substitutes") { $0.useSubstitutes = false },
        Case("--substitute-urls=https://a.example https://b.example") {
            $0.substituteURLs = ["https://a.example", "https://b.example"]
        },
        Case("--substitute-urls", "https://x.example") { $0.substituteURLs = ["https://x.example"] },
        Case("--substitute-urls=https://a", "--substitute-urls=https://b") { $0.substituteURLs = ["https://b"] },
        Case("--substitute-urls=") { $0.substituteURLs = [] },
        Case("--no-offload") { $0.useBuildHook = false },
        Case("--no-build-hook") { $0.useBuildHook = false },
        Case("--cache-failures") { $0.cacheFailures = true },
        Case("--rounds=3") { $0.buildRepeat = 2 },
        Case("--rounds", "1") { $0.buildRepeat = 0 },
        Case("--lose-logs") { $0.keepLog = false },
        Case("--log-compression=none") { $0.logCompression = .none },
        Case("--log-compression=gzip") { $0.logCompression = .gzip },
        Case("--log-compression", "bzip2") { $0.logCompression = .bzip2 },
        Case("--disable-log-compression") { $0.logCompression = .none },
        Case("--discover") { $0.discover = true },
        Case("--discover=yes") { $0.discover = true },
        Case("--discover=YES") { $0.discover = true },
        Case("--discover=no") { $0.discover = false },
        Case("--discover", "--discover=No") { $0.discover = false },
        Case("--disable-deduplication") { $0.autoOptimiseStore = false },
        Case("--disable-store-optimization") { $0.autoOptimiseStore = false },
        Case("--impersonate-linux-2.6") { $0.impersonateLinux26 = true },
        Case("--gc-keep-outputs") { $0.gcKeepOutputs = true },
        Case("--gc-keep-outputs=yes") { $0.gcKeepOutputs = true },
        Case("--gc-keep-outputs=no") { $0.gcKeepOutputs = false },
        Case("--gc-keep-derivations") { $0.gcKeepDerivations = true },
        Case("--gc-keep-derivations=no") { $0.gcKeepDerivations = false },
        Case("--gc-keep-derivations=nO") { $0.gcKeepDerivations = false },
        Case("--listen=/run/cloister/socket") { $0.listen = [.unix(path: "/run/cloister/socket")] },
        Case("--listen", "/run//x/../socket/") { $0.listen = [.unix(path: "/run/socket")] },
        Case("--listen=localhost") { $0.listen = [.tcp(host: "localhost", port: "44146")] },
        Case("--listen=0.0.0.0:1234") { $0.listen = [.tcp(host: "0.0.0.0", port: "1234")] },
        // Split at the LAST colon, as guix-daemon does.
        Case("--listen=[::1]:99") { $0.listen = [.tcp(host: "[::1]", port: "99")] },
        Case("--listen=/a", "--listen=h", "--listen", "/b") {
            $0.listen = [.unix(path: "/a"), .tcp(host: "h", port: "44146"), .unix(path: "/b")]
        },
        Case("--debug") { $0.verbosity = .debug },
        Case("--isolate-host-loopback") { $0.useHostLoopback = false },
        Case("--system=aarch64-linux") { $0.system = "aarch64-linux" },
        Case("--system", "i686-linux") { $0.system = "i686-linux" },
        // argp's hidden options are accepted.
        Case("--program-name=guix-daemon") { _ in },
        Case("--HANG=0") { _ in },
        Case("--HANG") { _ in },
        // Last value wins for single-valued settings; invalid earlier values are forgotten.
        Case("--cores=x", "--cores=2") { $0.buildCores = 2 },
        Case("--build-users-group=a", "--build-users-group=b") { $0.buildUsersGroup = "b" },
        // `--` ends options; nothing follows here.
        Case("--debug", "--") { $0.verbosity = .debug },
        // A required argument takes the next word whatever it looks like.
        Case("--build-users-group", "--debug") { $0.buildUsersGroup = "--debug" },
        Case("-c", "--", "--cores=3") { $0.buildCores = 3 },
    ]

    @Test(arguments: cases)
    func optionHasTheTableEffect(_ testCase: Case) throws {
        var expected = DaemonConfiguration()
        testCase.change(&expected)
        let outcome = DaemonCommandLine.parse(["cloister-daemon"] + testCase.arguments)
        guard case .run(let configuration) = outcome else {
            Issue.record("expected a configuration, got \(outcome)")
            return
        }
        #expect(configuration == expected)
    }

    @Test func defaultsAreGuixDaemons() {
        guard case .run(let c) = DaemonCommandLine.parse(["cloister-daemon"]) else {
            Issue.record("no configuration")
            return
        }
        #expect(c.buildUsersGroup == nil)
        #expect(c.buildCores == 0)
        #expect(c.maxBuildJobs == 1)
        #expect(c.buildTimeout == 86_400)
        #expect(c.maxSilentTime == 3_600)
        #expect(c.useChroot)
        #expect(c.extraChrootDirectories.isEmpty)
        #expect(c.useSubstitutes)
        #expect(c.substituteURLs == ["https://bordeaux.guix.gnu.org", "https://ci.guix.gnu.org"])
        #expect(!c.useBuildHook)
        #expect(!c.cacheFailures)
        #expect(c.buildRepeat == 0)
        #expect(c.keepLog)
        #expect(c.logCompression == .gzip)
        #expect(!c.discover)
        #expect(c.autoOptimiseStore)
        #expect(!c.impersonateLinux26)
        #expect(!c.gcKeepOutputs)
        #expect(c.gcKeepDerivations)
        #expect(c.listen.isEmpty)
        #expect(c.effectiveListenAddresses == [.unix(path: "/var/guix/daemon-socket/socket")])
        #expect(c.verbosity == .info)
        #expect(c.useHostLoopback)
        #expect(c.system == "x86_64-linux" || !c.system.hasPrefix("x86_64"))
        #expect(c.storeDirectory == "/gnu/store")
        #expect(c.stateDirectory == "/var/guix")
        #expect(c.databaseDirectory == "/var/guix/db")
        #expect(c.logDirectory == "/var/log/guix")
        #expect(c.configurationDirectory == "/etc/guix")
        #expect(c.mode == .unprivileged)
    }

    @Test func buildGroupSelectsPoolMode() throws {
        guard case .run(let c) = DaemonCommandLine.parse(["d", "--build-users-group=guixbuild"]) else {
            Issue.record("no configuration")
            return
        }
        #expect(c.mode == .pool)
    }

    /// Every visible and hidden long option can be abbreviated to the shortest prefix no other
    /// option shares (aliases aside).
    @Test(arguments: DaemonOption.table.filter { ![.help, .usage, .version].contains($0.key) })
    func shortestUniquePrefixWorks(_ option: DaemonOption) {
        let others = DaemonOption.table.filter { $0.key != option.key || $0.argument.kind != option.argument.kind }
        var length = 1
        while length < option.long.count,
              others.contains(where: { $0.long.hasPrefix(option.long.prefix(length)) }) {
            length += 1
        }
        let prefix = "--" + option.long.prefix(length)
        let argument: [String]
        switch (option.argument, option.key) {
        case (.required, .logCompression): argument = ["gzip"]
        case (.required, .rounds), (.required, .cores), (.required, .maxJobs),
             (.required, .timeout), (.required, .maxSilentTime): argument = ["5"]
        case (.required, _): argument = ["/x"]
        default: argument = []
        }
        let outcome = DaemonCommandLine.parse(["cloister-daemon", prefix] + argument)
        if case .exit(let status, _, let error) = outcome {
            Issue.record("\(prefix) failed with \(status): \(error)")
        }
        guard length > 1 else { return }
        // One letter shorter is ambiguous, except where the shorter prefix is another option's
        // exact name (never the case in this table).
        let shorter = "--" + option.long.prefix(length - 1)
        if case .exit(let status, _, let error) = DaemonCommandLine.parse(["cloister-daemon", shorter] + argument) {
            #expect(status == 64)
            #expect(error.contains("is ambiguous; possibilities:"))
        } else {
            Issue.record("\(shorter) should be ambiguous")
        }
    }

    @Test func prefixesResolve() {
        let cases: [([String], @Sendable (inout DaemonConfiguration) -> Void)] = [
            (["--build=g"], { $0.buildUsersGroup = "g" }),
            (["--co", "3"], { $0.buildCores = 3 }),
            (["--max-j=2"], { $0.maxBuildJobs = 2 }),
            (["--max-s=9"], { $0.maxSilentTime = 9 }),
            (["--ti=8"], { $0.buildTimeout = 8 }),
            (["--disable-c"], { $0.useChroot = false }),
            (["--disable-de"], { $0.autoOptimiseStore = false }),
            (["--disable-store"], { $0.autoOptimiseStore = false }),
            (["--disable-l"], { $0.logCompression = .none }),
            (["--disc=no"], { $0.discover = false }),
            (["--disc"], { $0.discover = true }),
            (["--gc-keep-o"], { $0.gcKeepOutputs = true }),
            (["--gc-keep-d=no"], { $0.gcKeepDerivations = false }),
            (["--no-s"], { $0.useSubstitutes = false }),
            (["--no-o"], { $0.useBuildHook = false }),
            (["--sy=x"], { $0.system = "x" }),
            (["--su=u"], { $0.substituteURLs = ["u"] }),
            (["--de"], { $0.verbosity = .debug }),
            (["--li=/s"], { $0.listen = [.unix(path: "/s")] }),
            (["--log-c=none"], { $0.logCompression = .none }),
        ]
        for (arguments, change) in cases {
            var expected = DaemonConfiguration()
            change(&expected)
            let outcome = DaemonCommandLine.parse(["cloister-daemon"] + arguments)
            #expect(outcome == .run(expected), "\(arguments)")
        }
    }
}

extension DaemonOption: CustomTestStringConvertible {
    public var testDescription: String { "--" + long }
}
