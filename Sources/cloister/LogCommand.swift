import Glibc
import Builder
import LocalStore
import StoreFormats

/// `cloister log DRV-OR-OUTPUT…`, as `guix build --log-file` / `nix log`: prints the build log
/// of a derivation, or of the derivation that built a valid output, decompressed. The log is
/// looked up as clients do: `.gz`, `.bz2`, then plain (guix-daemon.md §4.5).
enum LogCommand {
    static let usage = """
        Usage: cloister log [OPTION…] DRV-OR-OUTPUT…
        Print the build log of each derivation, or of the derivation that built each output.
          -f, --file       print the log file's path instead of its contents
          -h, --help       display this help and exit
        """

    static func run(_ arguments: [String]) throws -> Int32 {
        var onlyPath = false
        var items: [String] = []
        var iterator = OptionIterator(arguments, valued: [])
        while let option = try iterator.next() {
            switch option {
            case .flag("-h"), .flag("--help"):
                print(usage)
                return 0
            case .flag("-f"), .flag("--file"): onlyPath = true
            case .positional(let p): items.append(p)
            case .flag(let f): throw UsageError("unrecognized option '\(f)'")
            case .value(let o, _): throw UsageError("unrecognized option '\(o)'")
            }
        }
        guard !items.isEmpty else { throw UsageError("missing arguments; try 'cloister log --help'") }
        // Through the daemon when one answers (any user may ask it); else the local store.
        let resolve: (String) throws -> (drv: StorePath, logDirectory: String, store: StoreDirectory)
        if DaemonConnection.isDaemonReachable {
            let connection = try DaemonConnection.open()
            let logDirectory = DaemonConnection.environment("GUIX_LOG_DIRECTORY") ?? "/var/log/guix"
            resolve = { item in
                let path = try connection.storePath(item)
                if path.isDerivation { return (path, logDirectory, connection.storeDirectory) }
                guard let deriver = try connection.pathInfo(path).deriver else {
                    throw UsageError("\(item): no derivation is known for this path")
                }
                return (deriver, logDirectory, connection.storeDirectory)
            }
        } else {
            let store = try LocalStore(configuration: StoreConfiguration(environment: GCCommand.environment()))
            resolve = { item in
                let path = try GCCommand.storePath(item, store)
                if path.isDerivation { return (path, store.layout.logDirectory, store.storeDirectory) }
                guard let deriver = try store.queryDeriver(path) else {
                    throw UsageError("\(item): no derivation is known for this path")
                }
                return (deriver, store.layout.logDirectory, store.storeDirectory)
            }
        }
        for item in items {
            let (drv, logDirectory, storeDirectory) = try resolve(item)
            guard let file = BuildLogFile.find(logDirectory: logDirectory, drvPath: drv) else {
                throw UsageError("\(item): no build log for `\(drv.absolute(in: storeDirectory))'; build it first with 'cloister build'")
            }
            if onlyPath {
                print(file)
                continue
            }
            var writeError: Error?
            try BuildLogReader.read(file) { chunk in
                guard writeError == nil else { return }
                do { try chunk.withUnsafeBytes { try writeStandardOutput($0) } } catch { writeError = error }
            }
            if let writeError { throw writeError }
        }
        return 0
    }
}
