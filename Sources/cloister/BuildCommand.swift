import Glibc
import Builder
import LinuxSystem
import LocalStore
import StoreFormats

/// `cloister build FILE.drv…`, like `guix build`: builds derivations directly on the local store
/// (run as the store's owner, as `cloister gc`), in the same sandbox the daemon uses — the
/// build-user pool with `--build-users-group` (as root), a user namespace otherwise. Shows
/// progress on stderr (built/total, running builds) and the build logs unless `-q`; prints
/// the output paths on stdout. Exit status: 0, or guix-daemon's 100/101/1.
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
              --build-users-group=G    build as members of G (root only)
              --chroot-directory=DIR   also bind DIR (or INSIDE=OUTSIDE) in the chroot
              --log-compression=TYPE   gzip (default), bzip2 or none
              --lose-logs              do not keep build logs
              --cache-failures         remember failed derivations
          -q, --quiet                  do not show build logs
          -h, --help                   display this help and exit
        """

    static func run(_ arguments: [String]) throws -> Int32 {
        var settings = BuildSettings()
        settings.temporaryDirectory = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        settings.daemonEnvironment = ProcessEnvironment.current()
        settings.printBuildTrace = true
        settings.clientUID = Int64(getuid())
        settings.clientGID = Int64(getgid())
        var mode = BuildMode.normal
        var quiet = false
        var files: [String] = []
        var iterator = OptionIterator(arguments, valued: ["-M", "--max-jobs", "-c", "--cores", "--timeout", "--max-silent-time",
                                                         "--build-users-group", "--chroot-directory", "--log-compression"])
        func number(_ option: String, _ value: String) throws -> Int {
            guard let n = Int(value), n >= 0 else { throw UsageError("\(option): '\(value)' is not a number") }
            return n
        }
        while let option = try iterator.next() {
            switch option {
            case .flag("-h"), .flag("--help"):
                print(usage)
                return 0
            case .flag("-K"), .flag("--keep-failed"): settings.keepFailed = true
            case .flag("-k"), .flag("--keep-going"): settings.keepGoing = true
            case .flag("-q"), .flag("--quiet"): quiet = true
            case .flag("--check"): mode = .check
            case .flag("--lose-logs"): settings.keepLog = false
            case .flag("--cache-failures"): settings.cacheFailures = true
            case .value("-M", let v), .value("--max-jobs", let v): settings.maxBuildJobs = try number("--max-jobs", v)
            case .value("-c", let v), .value("--cores", let v): settings.buildCores = try number("--cores", v)
            case .value("--timeout", let v): settings.buildTimeout = try number("--timeout", v)
            case .value("--max-silent-time", let v): settings.maxSilentTime = try number("--max-silent-time", v)
            case .value("--build-users-group", let v): settings.buildUsersGroup = v
            case .value("--chroot-directory", let v): settings.extraChrootDirectories.append(v)
            case .value("--log-compression", let v):
                guard let c = LogCompression(rawValue: v) else { throw UsageError("--log-compression: '\(v)' is not gzip, bzip2 or none") }
                settings.logCompression = c
            case .positional(let p): files.append(p)
            case .flag(let f): throw UsageError("unrecognized option '\(f)'")
            case .value(let o, _): throw UsageError("unrecognized option '\(o)'")
            }
        }
        guard !files.isEmpty else { throw UsageError("missing arguments; try 'cloister build --help'") }
        let store = try LocalStore(configuration: StoreConfiguration(environment: GCCommand.environment()))
        let derivations = try files.map { try addDerivation($0, store) }
        let targets = derivations.map { BuildTarget.derivation($0) }

        let builder = Builder(store: store, settings: settings)
        let missing = try builder.queryMissing(targets)
        let storeDirectory = store.storeDirectory
        if !missing.willBuild.isEmpty {
            let count = missing.willBuild.count
            writeStandardError("The following derivation\(count == 1 ? "" : "s") will be built:\n")
            for drv in missing.willBuild.sorted() { writeStandardError("   \(drv.absolute(in: storeDirectory))\n") }
        }
        let progress = Progress(total: mode == .check ? derivations.count : missing.willBuild.count, quiet: quiet)
        let results = builder.build(targets, mode: mode) { progress.handle($0) }
        Builder.waitForCleanup()

        for result in results where result.isSuccess {
            for path in result.builtOutputs.values.sorted() { print(path.absolute(in: storeDirectory)) }
        }
        if let failure = Builder.failureMessage(targets: targets, results: results, store: storeDirectory) {
            writeStandardError("cloister: build: \(failure.message)\n")
            return failure.status
        }
        return 0
    }

    /// A store path of a valid .drv, or a .drv file to add (its references are its inputs).
    static func addDerivation(_ text: String, _ store: LocalStore) throws -> StorePath {
        if let path = try? store.storeDirectory.storePath(containing: text, rules: .nix), path.isDerivation,
           try store.isValidPath(path) {
            return path
        }
        let bytes: [UInt8]
        do { bytes = try FileDescriptor.open(text, [.readOnly]).readAll() } catch { throw UsageError("\(text): \(error)") }
        let derivation = try Derivation(aterm: bytes, store: store.storeDirectory, rules: store.configuration.nameRules)
        var name = String(text.split(separator: "/").last ?? "")
        if let dash = name.firstIndex(of: "-"), name.distance(from: name.startIndex, to: dash) == 32 { name = String(name[name.index(after: dash)...]) }
        guard name.hasSuffix(".drv") else { throw UsageError("\(text): not a .drv file") }
        return try store.addTextToStore(name: name, contents: bytes,
                                        references: Set(derivation.inputDerivations.keys).union(derivation.inputSources))
    }
}

/// Turns the builder's `@ build-…` traces into progress lines; passes logs through.
final class Progress: @unchecked Sendable {
    let total: Int
    let quiet: Bool
    // Events arrive one at a time (the Builder serialises them).
    var done = 0
    var running = Set<String>()

    init(total: Int, quiet: Bool) {
        self.total = total
        self.quiet = quiet
    }

    func handle(_ event: BuildEvent) {
        switch event {
        case .output(_, _, let bytes):
            if !quiet { bytes.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) } }
        case .message(let line):
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            if fields.count >= 3, fields[0] == "@" {
                let drv = String(fields[2])
                switch fields[1] {
                case "build-started":
                    running.insert(drv)
                    writeStandardError("[\(done)/\(total) built, \(running.count) running] building \(drv)\n")
                case "build-succeeded":
                    running.remove(drv)
                    done += 1
                    writeStandardError("[\(done)/\(total) built, \(running.count) running] built \(drv)\n")
                case "build-failed":
                    running.remove(drv)
                    done += 1
                    let rest = fields.dropFirst(4)
                    let reason = (rest.first == "1" || rest.first == "0" ? rest.dropFirst() : rest).joined(separator: " ")
                    writeStandardError("[\(done)/\(total) built, \(running.count) running] failed \(drv): \(reason)\n")
                default:
                    break
                }
            } else if !line.hasPrefix("building path(s)") {
                writeStandardError(line + "\n")
            }
        }
    }
}
