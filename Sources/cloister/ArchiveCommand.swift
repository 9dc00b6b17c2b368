import StoreFormats
import WorkerProtocol

/// `cloister archive --export PATH… > FILE` and `cloister archive --import < FILE`, as
/// `guix archive` / `nix-store --export`/`--import`, through the daemon. The archive is the
/// export stream of formats.md §3.5 (items with references first, then `u64 0`), so Guix and
/// Nix read what Cloister writes and the other way round.
enum ArchiveCommand {
    static let usage = """
        Usage: cloister archive --export [-r] PATH… > FILE
               cloister archive --import < FILE
        Export store items to standard output, or import an archive from standard input.
              --export         write PATHS as an archive to standard output
          -r, --recursive      with --export, also export everything PATHS refer to
              --import         read an archive from standard input and add its items
                               (the daemon requires signatures from clients it does not trust)
          -h, --help           display this help and exit
        """

    static func run(_ arguments: [String]) throws -> Int32 {
        enum Action { case export, `import` }
        var action: Action?
        var recursive = false
        var items: [String] = []
        var iterator = OptionIterator(arguments, valued: [])
        while let option = try iterator.next() {
            switch option {
            case .flag("-h"), .flag("--help"):
                print(usage)
                return 0
            case .flag("--export"): action = .export
            case .flag("--import"): action = .import
            case .flag("-r"), .flag("--recursive"): recursive = true
            case .positional(let p): items.append(p)
            case .flag(let f): throw UsageError("unrecognized option '\(f)'")
            case .value(let o, _): throw UsageError("unrecognized option '\(o)'")
            }
        }
        switch action {
        case nil:
            throw UsageError("give --export or --import; try 'cloister archive --help'")
        case .import:
            guard items.isEmpty else { throw UsageError("--import reads standard input and takes no arguments") }
            let connection = try DaemonConnection.open()
            let reply = try connection.client.call(.importPaths, dataSource: StandardInputSource())
            guard case .strings(let imported) = reply else { throw UsageError("the daemon gave an unexpected reply to ImportPaths") }
            for p in imported { print(p) }
        case .export:
            guard !items.isEmpty else { throw UsageError("missing PATH arguments; try 'cloister archive --help'") }
            let connection = try DaemonConnection.open()
            var paths = try items.map { try connection.storePath($0) }
            if recursive { paths = Array(try QueryCommand.closure(paths, connection)) }
            let sink = StandardOutputSink()
            for p in try referencesFirst(paths, connection) {
                _ = try connection.pathInfo(p)
                try connection.client.call(.exportPath(p, sign: false), dataSink: sink)
            }
            try sink.write([0, 0, 0, 0, 0, 0, 0, 0])
        }
        return 0
    }

    /// The items in an order where each comes after those of its references that are exported
    /// too (Nix's topoSortPaths), so an import never meets a reference it has not seen.
    static func referencesFirst(_ paths: [StorePath], _ connection: DaemonConnection) throws -> [StorePath] {
        let wanted = Set(paths)
        var references: [StorePath: [StorePath]] = [:]
        for p in wanted { references[p] = try connection.pathInfo(p).references.filter { wanted.contains($0) && $0 != p } }
        var order: [StorePath] = []
        var state: [StorePath: Bool] = [:]   // false = visiting, true = done
        func visit(_ p: StorePath) throws {
            if let done = state[p] {
                if !done { throw UsageError("\(connection.render(p)): reference cycle among the exported items") }
                return
            }
            state[p] = false
            for r in (references[p] ?? []).sorted() { try visit(r) }
            state[p] = true
            order.append(p)
        }
        for p in paths.sorted() { try visit(p) }
        return order
    }
}
