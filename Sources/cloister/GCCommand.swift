import Glibc
import LocalStore
import StoreFormats

/// `cloister gc`, as `guix gc`: collect garbage and query the store — through the daemon when
/// one answers (`DaemonGC`), else (or with `--local`) directly on the local store, run as the
/// store's owner. The store, state and log locations come from the same environment
/// variables guix-daemon reads (NIX_STORE_DIR, GUIX_STATE_DIRECTORY, …).
enum GCCommand {
    static let usage = """
        Usage: cloister gc [OPTION…] PATHS…
        Invoke the garbage collector.
          -C, --collect-garbage[=MIN]  collect at least MIN bytes of garbage (default: all)
          -F, --free-space=FREE        attempt to reach FREE available space in the store
          -d, --delete                 attempt to delete PATHS
              --list-roots             list the user's garbage collector roots
              --list-busy              list store items used by running processes
              --list-dead              list store items that are garbage
              --list-live              list store items that are alive
              --references             list the references of PATHS
              --referrers              list the referrers of PATHS
          -R, --requisites             list the requisites (closure) of PATHS
              --derivers               list the derivers of PATHS
              --verify[=OPTS]          verify the store; OPTS is a comma-separated list of
                                       'contents' and 'repair'
              --optimize               deduplicate identical files in the store
              --vacuum-database        repack the store database
              --list-failures          list cached build failures
              --clear-failures         remove PATHS from the set of cached failures
              --local                  work on the store directly, not through the daemon
                                       (as the store's owner; implied when no daemon answers)
          -h, --help                   display this help and exit
        """

    enum Action: Equatable {
        case collect(UInt64?), freeSpace(UInt64), delete, listRoots, listDead, listLive
        case references, referrers, requisites, derivers, verify(contents: Bool, repair: Bool)
        case optimize, listFailures, clearFailures, listBusy, vacuum
    }

    static func run(_ arguments: [String]) throws -> Int32 {
        var action = Action.collect(nil)
        var paths: [String] = []
        var local = false
        var iterator = OptionIterator(arguments, valued: ["-F", "--free-space"])
        while let option = try iterator.next() {
            switch option {
            case .flag("-h"), .flag("--help"):
                print(usage)
                return 0
            case .flag("-C"), .flag("--collect-garbage"): action = .collect(nil)
            case .value("--collect-garbage", let v): action = .collect(try parseSize(v))
            case .value("-F", let v), .value("--free-space", let v): action = .freeSpace(try parseSize(v))
            case .flag("-d"), .flag("--delete"): action = .delete
            case .flag("--list-roots"): action = .listRoots
            case .flag("--list-dead"): action = .listDead
            case .flag("--list-busy"): action = .listBusy
            case .flag("--vacuum-database"): action = .vacuum
            case .flag("--list-live"): action = .listLive
            case .flag("--references"): action = .references
            case .flag("--referrers"): action = .referrers
            case .flag("-R"), .flag("--requisites"): action = .requisites
            case .flag("--derivers"): action = .derivers
            case .flag("--verify"): action = .verify(contents: false, repair: false)
            case .value("--verify", let v):
                let opts = v.split(separator: ",").map(String.init)
                for o in opts where o != "contents" && o != "repair" { throw UsageError("--verify: \(o): invalid option") }
                action = .verify(contents: opts.contains("contents"), repair: opts.contains("repair"))
            case .flag("--optimize"), .flag("--optimise"): action = .optimize
            case .flag("--list-failures"): action = .listFailures
            case .flag("--clear-failures"): action = .clearFailures
            case .flag("--local"): local = true
            case .positional(let p): paths.append(p)
            case .flag(let f) where f.hasPrefix("-C") && f.count > 2: action = .collect(try parseSize(String(f.dropFirst(2))))
            case .flag(let f): throw UsageError("unrecognized option '\(f)'")
            case .value(let o, _): throw UsageError("unrecognized option '\(o)'")
            }
        }
        if !local && DaemonConnection.isDaemonReachable { return try DaemonGC.run(action, paths) }
        return try runLocal(action, paths)
    }

    static func runLocal(_ action: Action, _ paths: [String]) throws -> Int32 {
        let store: LocalStore
        do { store = try LocalStore(configuration: StoreConfiguration(environment: environment())) } catch {
            throw UsageError("cannot open the store directly (\(error)), and no daemon answers at \(DaemonConnection.socketPath); \(DaemonConnection.startAdvice)")
        }
        func storePaths() throws -> [StorePath] { try paths.map { try storePath($0, store) } }
        func printPaths(_ list: some Sequence<StorePath>) {
            for p in list.sorted() { print(p.absolute(in: store.storeDirectory)) }
        }

        switch action {
        case .collect(let min):
            guard paths.isEmpty else { throw UsageError("extraneous arguments: \(paths.joined(separator: " "))") }
            try collect(store, maxFreed: min ?? .max)
        case .freeSpace(let free):
            let available = try store.availableSpace()
            if available >= free {
                writeStandardError("cloister gc: already \(mib(available)) MiB available on the store\n")
            } else {
                try collect(store, maxFreed: free - available)
            }
        case .delete:
            let result = try store.collectGarbage(GCOptions(action: .deleteSpecific(try storePaths())))
            for p in result.paths { writeStandardError("deleting `\(p)'\n") }
        case .listRoots:
            for link in try store.findRoots().keys.sorted() { print(link) }
        case .listDead:
            for p in try store.collectGarbage(GCOptions(action: .returnDead)).paths { print(p) }
        case .listLive:
            for p in try store.collectGarbage(GCOptions(action: .returnLive)).paths { print(p) }
        case .references:
            var all = Set<StorePath>()
            for p in try storePaths() { all.formUnion(try store.queryReferences(p)) }
            printPaths(all)
        case .referrers:
            var all = Set<StorePath>()
            for p in try storePaths() { all.formUnion(try store.queryReferrers(p)) }
            printPaths(all)
        case .requisites:
            printPaths(try store.queryRequisites(try storePaths()))
        case .derivers:
            var all = Set<StorePath>()
            for p in try storePaths() {
                if let d = try store.queryDeriver(p), try store.isValidPath(d) { all.insert(d) }
            }
            printPaths(all)
        case .verify(let contents, let repair):
            writeStandardError("reading the store...\n")
            if contents { writeStandardError("checking contents...\n") }
            let result = try store.verifyStore(checkContents: contents, repair: repair)
            for problem in result.problems { writeStandardError("\(problem.message(.guix))\n") }
            return result.modifiedPaths.isEmpty ? 0 : 1
        case .optimize:
            let stats = try store.optimiseStore()
            writeStandardError("\(stats.filesLinked) files linked, \(mib(stats.bytesFreed)) MiB freed\n")
        case .listBusy:
            printPaths(store.findRuntimeRoots())
        case .vacuum:
            try store.vacuumDatabase()
        case .listFailures:
            for p in try store.queryFailedPaths() { print(p) }
        case .clearFailures:
            try store.clearFailedPaths(paths)
        }
        return 0
    }

    static func collect(_ store: LocalStore, maxFreed: UInt64) throws {
        writeStandardError("finding garbage collector roots...\ndeleting garbage...\n")
        let result = try store.collectGarbage(GCOptions(action: .deleteDead, maxFreed: maxFreed))
        for p in result.paths { writeStandardError("deleting `\(p)'\n") }
        writeStandardError("freed \(mib(result.bytesFreed)) MiB\n")
    }

    static func mib(_ bytes: UInt64) -> String {
        let tenths = (bytes * 10 + (1 << 19)) >> 20
        return "\(tenths / 10).\(tenths % 10)"
    }

    /// `500`, `10K`, `2MiB`, `1.5G`, `3GB` (powers of 1024, or of 1000 with a `B` after the unit letter only).
    static func parseSize(_ text: String) throws -> UInt64 {
        let digits = text.prefix { $0.isNumber || $0 == "." }
        guard let number = Double(digits), number >= 0 else { throw UsageError("invalid amount of storage: \(text)") }
        let unit = text.dropFirst(digits.count).uppercased()
        let exponents: [Character: Double] = ["K": 1, "M": 2, "G": 3, "T": 4]
        var factor = 1.0
        if let first = unit.first {
            guard let e = exponents[first], ["", "B", "IB"].contains(String(unit.dropFirst())) else {
                throw UsageError("invalid amount of storage: \(text)")
            }
            factor = unit.dropFirst() == "B" ? pow(1000, e) : pow(1024, e)
        }
        return UInt64(number * factor)
    }

    /// A store item named by its store file name (or a file inside it).
    static func storePath(_ text: String, _ store: LocalStore) throws -> StorePath {
        do { return try store.storeDirectory.storePath(containing: text, rules: .nix) } catch {
            throw UsageError("\(text): not a store item")
        }
    }

    /// The variables guix-daemon reads for its paths (guix-daemon.md §6.3).
    static func environment() -> [String: String] {
        var env: [String: String] = [:]
        for name in ["NIX_STORE_DIR", "NIX_STORE", "GUIX_STATE_DIRECTORY", "GUIX_DATABASE_DIRECTORY",
                     "GUIX_LOG_DIRECTORY", "GUIX_CONFIGURATION_DIRECTORY"] {
            if let v = getenv(name) { env[name] = String(cString: v) }
        }
        return env
    }
}
