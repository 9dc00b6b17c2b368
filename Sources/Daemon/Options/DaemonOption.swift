/// The option table of `cloister-daemon`: guix-daemon's argp table (guix-daemon.cc `options[]`,
/// guix-daemon.md §6.1) followed by the options argp itself adds (`--help`/`-?`, `--usage`,
/// hidden `--program-name`, hidden `--HANG`, `--version`/`-V`).
///
/// The ORDER of `DaemonOption.table` is part of the behaviour: getopt reports ambiguous
/// prefixes by listing the candidates in table order, exactly as argp hands them to it.
public struct DaemonOption: Sendable, Equatable {
    /// What an option does; two table entries with the same key are aliases (getopt does not
    /// count a prefix matching both as ambiguous when they also agree on the argument kind).
    public enum Key: Sendable, Equatable, Hashable {
        case system, cores, maxJobs, timeout, maxSilentTime, disableChroot, chrootDirectory
        case buildUsersGroup, noSubstitutes, substituteURLs, noOffload, cacheFailures, rounds
        case loseLogs, disableLogCompression, logCompression, discover, disableDeduplication
        case impersonateLinux26, gcKeepOutputs, gcKeepDerivations, listen, debug
        case isolateHostLoopback
        // argp's own options.
        case help, usage, programName, hang, version
    }

    /// getopt's `has_arg`, with the placeholder argp prints (`--cores=N`, `--discover[=yes/no]`).
    public enum Argument: Sendable, Equatable {
        case none
        case required(String)
        case optional(String)
    }

    public let long: String
    public let short: Character?
    public let argument: Argument
    public let key: Key
    /// Hidden options work but are left out of `--help` and `--usage` (OPTION_HIDDEN).
    public let hidden: Bool
    /// argp's doc string for `--help`.
    public let summary: String
    /// argp help group: guix-daemon's options are listed before argp's own ones.
    public let group: Int

    init(_ long: String, _ short: Character? = nil, _ argument: Argument = .none, _ key: Key,
         hidden: Bool = false, group: Int = 0, _ summary: String) {
        self.long = long
        self.short = short
        self.argument = argument
        self.key = key
        self.hidden = hidden
        self.summary = summary
        self.group = group
    }

    public static let table: [DaemonOption] = [
        DaemonOption("system", nil, .required("SYSTEM"), .system,
                     "assume SYSTEM as the current system type"),
        DaemonOption("cores", "c", .required("N"), .cores,
                     "use N CPU cores to build each derivation; 0 means as many as available"),
        DaemonOption("max-jobs", "M", .required("N"), .maxJobs,
                     "allow at most N build jobs"),
        DaemonOption("timeout", nil, .required("SECONDS"), .timeout,
                     "mark builds as failed after SECONDS of activity"),
        DaemonOption("max-silent-time", nil, .required("SECONDS"), .maxSilentTime,
                     "mark builds as failed after SECONDS of silence"),
        DaemonOption("disable-chroot", nil, .none, .disableChroot,
                     "disable chroot builds"),
        DaemonOption("chroot-directory", nil, .required("DIR"), .chrootDirectory,
                     "add DIR to the build chroot"),
        DaemonOption("build-users-group", nil, .required("GROUP"), .buildUsersGroup,
                     "perform builds as a user of GROUP"),
        DaemonOption("no-substitutes", nil, .none, .noSubstitutes,
                     "do not use substitutes"),
        DaemonOption("substitute-urls", nil, .required("URLS"), .substituteURLs,
                     "use URLS as the default list of substitute providers"),
        DaemonOption("no-offload", nil, .none, .noOffload,
                     "do not attempt to offload builds"),
        // Deprecated spelling of --no-offload, kept working but not shown.
        DaemonOption("no-build-hook", nil, .none, .noOffload, hidden: true,
                     "do not attempt to offload builds"),
        DaemonOption("cache-failures", nil, .none, .cacheFailures,
                     "cache build failures"),
        DaemonOption("rounds", nil, .required("N"), .rounds,
                     "build each derivation N times in a row"),
        DaemonOption("lose-logs", nil, .none, .loseLogs,
                     "do not keep build logs"),
        DaemonOption("disable-log-compression", nil, .none, .disableLogCompression, hidden: true,
                     "disable compression of the build logs"),
        DaemonOption("log-compression", nil, .required("TYPE"), .logCompression,
                     "use the specified compression type for build logs"),
        DaemonOption("discover", nil, .optional("yes/no"), .discover,
                     "use substitute servers discovered on the local network"),
        DaemonOption("disable-deduplication", nil, .none, .disableDeduplication,
                     "disable automatic file \"deduplication\" in the store"),
        // The name up to Guix 0.7.
        DaemonOption("disable-store-optimization", nil, .none, .disableDeduplication, hidden: true,
                     ""),
        DaemonOption("impersonate-linux-2.6", nil, .none, .impersonateLinux26,
                     "impersonate Linux 2.6"),
        DaemonOption("gc-keep-outputs", nil, .optional("yes/no"), .gcKeepOutputs,
                     "tell whether the GC must keep outputs of live derivations"),
        DaemonOption("gc-keep-derivations", nil, .optional("yes/no"), .gcKeepDerivations,
                     "tell whether the GC must keep derivations corresponding to live outputs"),
        DaemonOption("listen", nil, .required("SOCKET"), .listen,
                     "listen for connections on SOCKET"),
        DaemonOption("debug", nil, .none, .debug,
                     "produce debugging output"),
        DaemonOption("isolate-host-loopback", nil, .none, .isolateHostLoopback,
                     "do not allow fixed-output chroot builds to access the host loopback"),
        // argp's default options, in the order argp appends them.
        DaemonOption("help", "?", .none, .help, group: 1, "Give this help list"),
        DaemonOption("usage", nil, .none, .usage, group: 1, "Give a short usage message"),
        DaemonOption("program-name", nil, .required("NAME"), .programName, hidden: true, group: 1,
                     "Set the program name"),
        DaemonOption("HANG", nil, .optional("SECS"), .hang, hidden: true, group: 1,
                     "Hang for SECS seconds (default 3600)"),
        DaemonOption("version", "V", .none, .version, group: 1, "Print program version"),
    ]
}
