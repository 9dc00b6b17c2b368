/// `cloister-daemon [OPTION...]`: turns argv and the environment into a `DaemonConfiguration`,
/// or into the exact text and exit status guix-daemon would produce instead (guix-daemon.cc:
/// main and parse_opt under glibc argp). The steps, in guix-daemon's order:
///
/// 1. the environment (§6.3); a directory variable that is not absolute → `error: …`, status 1;
/// 2. options in argv order (non-options are set aside, as argp permutes): `--help`, `--usage`,
///    `--version` print and stop (status 0); getopt errors print getopt's line plus argp's
///    "Try …" (status 64, EX_USAGE); a bad `--log-compression`, `--rounds` or Boolean stops at
///    once with `error: …`, status 1;
/// 3. any non-option → "NAME: Too many arguments" + "Try …", status 64;
/// 4. the integer settings, checked afterwards as `Settings::update` does (max-jobs, cores,
///    max-silent-time, timeout): status 1. Repeating a valued option keeps the last value,
///    except `--listen` and `--chroot-directory`, which accumulate.
///
/// Pure: no system calls, so every path is testable.
public enum DaemonCommandLine {
    public enum Outcome: Sendable, Equatable {
        /// Start the daemon with this configuration.
        case run(DaemonConfiguration)
        /// Print these texts and exit with this status (help, version, or a usage error).
        case exit(status: Int32, standardOutput: String, standardError: String)
    }

    /// argp's error exit status (EX_USAGE).
    public static let usageStatus: Int32 = 64

    /// `arguments` is the whole argv, program name first.
    public static func parse(_ arguments: [String], environment: [String: String] = [:],
                             processID: Int32 = 0) -> Outcome {
        let programPath = arguments.first ?? "cloister-daemon"
        var name = baseName(programPath)
        var configuration = DaemonConfiguration()
        do {
            try configuration.apply(environment: environment, processID: processID)
        } catch {
            return failure("not an absolute path: `\(error.path)'")
        }

        var integers = IntegerSettings()
        var scanner = ArgpScanner(arguments: Array(arguments.dropFirst()), programPath: programPath)
        while true {
            let event: ArgpScanner.Event?
            do {
                event = try scanner.next()
            } catch {
                return .exit(status: usageStatus, standardOutput: "",
                             standardError: error.message + "\n" + DaemonHelp.seeAlso(name: name))
            }
            guard case .option(let option, let argument)? = event else { break }
            switch option.key {
            case .help:
                return .exit(status: 0, standardOutput: DaemonHelp.help(name: name), standardError: "")
            case .usage:
                return .exit(status: 0, standardOutput: DaemonHelp.usage(name: name), standardError: "")
            case .version:
                return .exit(status: 0, standardOutput: DaemonHelp.versionText, standardError: "")
            case .programName:
                name = baseName(argument ?? name)
            default:
                if let stop = apply(option.key, argument ?? "", given: argument != nil,
                                    to: &configuration, integers: &integers) {
                    return stop
                }
            }
        }
        if !scanner.positionals.isEmpty {
            return .exit(status: usageStatus, standardOutput: "",
                         standardError: "\(name): Too many arguments\n" + DaemonHelp.seeAlso(name: name))
        }
        if let bad = integers.store(into: &configuration) {
            return failure("configuration setting `\(bad)' should have an integer value")
        }
        return .run(configuration)
    }

    /// parse_opt for the options that change the configuration; a non-nil result stops parsing.
    static func apply(_ key: DaemonOption.Key, _ value: String, given: Bool,
                      to c: inout DaemonConfiguration, integers: inout IntegerSettings) -> Outcome? {
        switch key {
        case .system: c.system = value
        case .cores: integers.cores = value
        case .maxJobs: integers.maxJobs = value
        case .timeout: integers.timeout = value
        case .maxSilentTime: integers.maxSilentTime = value
        case .disableChroot: c.useChroot = false
        case .chrootDirectory: c.extraChrootDirectories += SettingValues.tokens(value)
        case .buildUsersGroup: c.buildUsersGroup = value
        case .noSubstitutes: c.useSubstitutes = false
        case .substituteURLs: c.substituteURLs = SettingValues.tokens(value)
        case .noOffload: c.useBuildHook = false
        case .cacheFailures: c.cacheFailures = true
        case .rounds:
            guard let rounds = SettingValues.rounds(value) else { return failure("\(value): invalid number of rounds") }
            c.buildRepeat = rounds - 1
        case .loseLogs: c.keepLog = false
        case .disableLogCompression: c.logCompression = .none
        case .logCompression:
            guard let compression = DaemonConfiguration.LogCompression(rawValue: value) else {
                return failure("\(value): unknown compression type")
            }
            c.logCompression = compression
        case .discover, .gcKeepOutputs, .gcKeepDerivations:
            guard let flag = SettingValues.boolean(given ? value : nil) else {
                return failure("'\(value)': invalid Boolean value")
            }
            if key == .discover { c.discover = flag }
            if key == .gcKeepOutputs { c.gcKeepOutputs = flag }
            if key == .gcKeepDerivations { c.gcKeepDerivations = flag }
        case .disableDeduplication: c.autoOptimiseStore = false
        case .impersonateLinux26: c.impersonateLinux26 = true
        case .listen: c.listen.append(DaemonConfiguration.ListenAddress(parsing: value))
        case .debug: c.verbosity = .debug
        case .isolateHostLoopback: c.useHostLoopback = false
        case .hang:
            // argp's debugging aid (sleep SECS before going on); accepted, not acted on.
            break
        case .help, .usage, .version, .programName:
            break
        }
        return nil
    }

    /// The integer settings as given (last one wins), converted at the end like Settings::update.
    struct IntegerSettings {
        var maxJobs: String?
        var cores: String?
        var maxSilentTime: String?
        var timeout: String?

        /// Returns the name of the first setting that is not an integer of its type.
        func store(into c: inout DaemonConfiguration) -> String? {
            let fields: [(String, String?, SettingValues.IntegerType, WritableKeyPath<DaemonConfiguration, Int>)] = [
                ("build-max-jobs", maxJobs, .unsigned32, \.maxBuildJobs),
                ("build-cores", cores, .unsigned32, \.buildCores),
                ("build-max-silent-time", maxSilentTime, .signed64, \.maxSilentTime),
                ("build-timeout", timeout, .signed64, \.buildTimeout),
            ]
            for (name, text, type, field) in fields {
                guard let text else { continue }
                guard let value = SettingValues.integer(text, as: type) else { return name }
                c[keyPath: field] = value
            }
            return nil
        }
    }

    /// guix-daemon's `catch (std::exception &e) { fprintf (stderr, "error: %s\n", …); }`.
    static func failure(_ message: String) -> Outcome {
        .exit(status: 1, standardOutput: "", standardError: "error: \(message)\n")
    }

    /// argp's program name for messages: argv[0] after its last slash.
    static func baseName(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }
}
