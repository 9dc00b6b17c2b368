import Glibc
import Builder
import LinuxSystem
import StoreFormats

/// `cloister build FILE.drv…`, like `guix build`: builds derivations through the daemon
/// (BuildPathsWithResults over the socket of `GUIX_DAEMON_SOCKET` or the default), showing
/// progress on stderr and printing the output paths on stdout. With `--local`, or when no
/// daemon answers, it builds directly on the local store as the store's owner, in the same
/// sandbox the daemon uses. Exit status: 0, or guix-daemon's 100/101/1.
enum BuildCommand {
    static let usage = """
        Usage: cloister build [OPTION…] FILE.drv…
        Build the given derivations (store paths or .drv files, added to the store first).
          -K, --keep-failed            keep the build tree of failed builds
          -k, --keep-going             go on with other derivations after a failure
          -M, --max-jobs=N             run at most N builds at once (default 1)
          -c, --cores=N                NIX_BUILD_CORES for builders (default 0: all)
              --timeout=SECONDS        kill builds that run longer
              --max-silent-time=SECONDS
                                       kill builds silent for longer
              --check                  rebuild valid outputs and compare them
              --rounds=N               build each derivation N times, failing if the
                                       outputs differ (default 1)
          -v, --verbosity=LEVEL        0: errors only; 1: progress; 2: and build logs (default;
                                       on a terminal, their last line); 3: full logs everywhere
          -q, --quiet                  same as --verbosity=1
              --debug                  verbosity 4, and ask the daemon for debug messages
              --local                  build on the local store without the daemon (as the
                                       store's owner); implied when no daemon answers
        Local builds only:
              --build-users-group=G    build as members of G (root only)
              --chroot-directory=DIR   also bind DIR (or INSIDE=OUTSIDE) in the chroot
              --log-compression=TYPE   gzip (default), bzip2 or none
              --lose-logs              do not keep build logs
              --cache-failures         remember failed derivations
          -h, --help                   display this help and exit
        Environment: GUIX_DAEMON_SOCKET (default /var/guix/daemon-socket/socket), NIX_STORE_DIR.
        """

    /// The command line, parsed.
    struct Request {
        var settings = BuildSettings()
        var mode = BuildMode.normal
        var verbosity = 2
        var debug = false
        var local = false
        /// Options the daemon takes from its own command line, not from clients.
        var localOnlyOptions: [String] = []
        var timeoutGiven = false
        var files: [String] = []
    }

    static func run(_ arguments: [String]) throws -> Int32 {
        guard let request = try parse(arguments) else {
            print(usage)
            return 0
        }
        if !request.local && DaemonConnection.isDaemonReachable {
            if let option = request.localOnlyOptions.first {
                throw UsageError("\(option) is set on the daemon's command line; drop it, or add --local to build without the daemon")
            }
            return try DaemonBuild.run(request)
        }
        if request.debug && !request.local {
            writeStandardError("cloister: build: no daemon at \(DaemonConnection.socketPath); building on the local store\n")
        }
        return try LocalBuild.run(request)
    }

    /// nil for --help.
    static func parse(_ arguments: [String]) throws -> Request? {
        var r = Request()
        r.settings.temporaryDirectory = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        r.settings.daemonEnvironment = ProcessEnvironment.current()
        r.settings.printBuildTrace = true
        r.settings.clientUID = Int64(getuid())
        r.settings.clientGID = Int64(getgid())
        var iterator = OptionIterator(arguments, valued: ["-M", "--max-jobs", "-c", "--cores", "--timeout", "--max-silent-time", "--rounds",
                                                         "-v", "--verbosity", "--build-users-group", "--chroot-directory",
                                                         "--log-compression"])
        func number(_ option: String, _ value: String) throws -> Int {
            guard let n = Int(value), n >= 0 else { throw UsageError("\(option): '\(value)' is not a number") }
            return n
        }
        while let option = try iterator.next() {
            switch option {
            case .flag("-h"), .flag("--help"): return nil
            case .flag("-K"), .flag("--keep-failed"): r.settings.keepFailed = true
            case .flag("-k"), .flag("--keep-going"): r.settings.keepGoing = true
            case .flag("-q"), .flag("--quiet"): r.verbosity = 1
            case .flag("--debug"): r.debug = true; r.verbosity = max(r.verbosity, 4)
            case .flag("--check"): r.mode = .check
            case .flag("--local"): r.local = true
            case .flag("--lose-logs"): r.settings.keepLog = false; r.localOnlyOptions.append("--lose-logs")
            case .flag("--cache-failures"): r.settings.cacheFailures = true; r.localOnlyOptions.append("--cache-failures")
            case .value("-M", let v), .value("--max-jobs", let v): r.settings.maxBuildJobs = try number("--max-jobs", v)
            case .value("-c", let v), .value("--cores", let v): r.settings.buildCores = try number("--cores", v)
            case .value("--timeout", let v): r.settings.buildTimeout = try number("--timeout", v); r.timeoutGiven = true
            case .value("--max-silent-time", let v): r.settings.maxSilentTime = try number("--max-silent-time", v)
            case .value("--rounds", let v):
                guard let n = Int(v), n >= 1 else { throw UsageError("--rounds: '\(v)' is not a positive number") }
                r.settings.buildRepeat = n - 1
            case .value("-v", let v), .value("--verbosity", let v): r.verbosity = try number("--verbosity", v)
            case .value("--build-users-group", let v):
                r.settings.buildUsersGroup = v
                r.localOnlyOptions.append("--build-users-group")
            case .value("--chroot-directory", let v):
                r.settings.extraChrootDirectories.append(v)
                r.localOnlyOptions.append("--chroot-directory")
            case .value("--log-compression", let v):
                guard let c = LogCompression(rawValue: v) else { throw UsageError("--log-compression: '\(v)' is not gzip, bzip2 or none") }
                r.settings.logCompression = c
                r.localOnlyOptions.append("--log-compression")
            case .positional(let p): r.files.append(p)
            case .flag(let f): throw UsageError("unrecognized option '\(f)'")
            case .value(let o, _): throw UsageError("unrecognized option '\(o)'")
            }
        }
        guard !r.files.isEmpty else { throw UsageError("missing arguments; try 'cloister build --help'") }
        return r
    }

    /// The file name a .drv file is added under: its base name without a store hash prefix.
    static func derivationName(_ file: String) throws -> String {
        var name = String(file.split(separator: "/").last ?? "")
        if let dash = name.firstIndex(of: "-"), name.distance(from: name.startIndex, to: dash) == 32 {
            name = String(name[name.index(after: dash)...])
        }
        guard name.hasSuffix(".drv") else { throw UsageError("\(file): not a .drv file (derivations are named NAME.drv)") }
        return name
    }

    static func readFile(_ file: String) throws -> [UInt8] {
        do { return try FileDescriptor.open(file, [.readOnly]).readAll() } catch { throw UsageError("\(file): \(error)") }
    }
}
