import StoreFormats
import WorkerProtocol
import LocalStore
import LinuxSystem

/// `cloister archive`, as `guix archive` / `nix-store --export`/`--import`, through the daemon.
/// The archive is the export stream of formats.md §3.5 (items with references first, then
/// `u64 0`), so Guix and Nix read what Cloister writes and the other way round.
///
/// Signing (formats.md §5.4): `--export` talks the Guix dialect and has the daemon sign every
/// item with its key (`signing-key.sec` in GUIX_CONFIGURATION_DIRECTORY), as `guix archive
/// --export` does: guix/store.scm's `export-paths` signs by default and `guix archive` offers no
/// unsigned export, so neither does this (a Nix client's `nix-store --export` is unsigned: Nix
/// 2.8's daemon ignores the sign word). `--sign` is accepted and changes nothing.
/// `--import --require-signatures` talks the Guix dialect, where the daemon installs an item only
/// if it is signed by a key in its ACL — for every client, as guix-daemon. Without it the CLI
/// talks the Nix dialect: a trusted client's archive is imported unchecked, an untrusted one's
/// refused. `--generate-key` and `--authorize` manage the key files locally, as guix archive.
enum ArchiveCommand {
    static let usage = """
        Usage: cloister archive --export [-r] PATH… > FILE
               cloister archive --import [--require-signatures] < FILE
               cloister archive --generate-key[=PARAMETERS]
               cloister archive --authorize < KEY
        Export store items to standard output, import an archive from standard input, or
        manage the keys that sign and authorise archives.
              --export         write PATHS as an archive to standard output, each item
                               signed by the daemon with its key (as guix archive)
          -r, --recursive      with --export, also export everything PATHS refer to
              --import         read an archive from standard input and add its items
                               (the daemon requires signatures from clients it does not trust)
              --require-signatures
                               with --import, accept only items signed by a key in the
                               daemon's ACL (the Guix dialect: guix archive --import)
              --generate-key[=PARAMETERS]
                               write a new signing-key.pub/.sec to GUIX_CONFIGURATION_DIRECTORY
                               (default /etc/guix); PARAMETERS default to
                               \(GuixKeyPair.defaultParameters)
              --authorize      add the public key on standard input to the ACL
          -h, --help           display this help and exit
        """

    static func run(_ arguments: [String]) throws -> Int32 {
        enum Action { case export, `import`, generateKey(String), authorize }
        var action: Action?
        var recursive = false, requireSignatures = false
        var items: [String] = []
        var iterator = OptionIterator(arguments, valued: [])
        while let option = try iterator.next() {
            switch option {
            case .flag("-h"), .flag("--help"):
                print(usage)
                return 0
            case .flag("--export"): action = .export
            case .flag("--import"): action = .import
            case .flag("--generate-key"): action = .generateKey(GuixKeyPair.defaultParameters)
            case .value("--generate-key", let parameters): action = .generateKey(parameters)
            case .flag("--authorize"): action = .authorize
            case .flag("-r"), .flag("--recursive"): recursive = true
            case .flag("--sign"): break   // exports are always signed (older usage)
            case .flag("--require-signatures"): requireSignatures = true
            case .positional(let p): items.append(p)
            case .flag(let f): throw UsageError("unrecognized option '\(f)'")
            case .value(let o, _): throw UsageError("unrecognized option '\(o)'")
            }
        }
        switch action {
        case nil:
            throw UsageError("give --export, --import, --generate-key or --authorize; try 'cloister archive --help'")
        case .generateKey(let parameters):
            guard items.isEmpty else { throw UsageError("--generate-key takes no arguments") }
            try generateKey(parameters)
        case .authorize:
            guard items.isEmpty else { throw UsageError("--authorize reads standard input and takes no arguments") }
            try authorize()
        case .import:
            guard items.isEmpty else { throw UsageError("--import reads standard input and takes no arguments") }
            let connection = try DaemonConnection.open(version: requireSignatures ? .guix : .nix28)
            let reply = try connection.client.call(.importPaths, dataSource: StandardInputSource())
            guard case .strings(let imported) = reply else { throw UsageError("the daemon gave an unexpected reply to ImportPaths") }
            for p in imported { print(p) }
        case .export:
            guard !items.isEmpty else { throw UsageError("missing PATH arguments; try 'cloister archive --help'") }
            let connection = try DaemonConnection.open(version: .guix)
            var paths = try items.map { try connection.storePath($0) }
            if recursive { paths = Array(try QueryCommand.closure(paths, connection)) }
            let sink = StandardOutputSink()
            // The daemon sends one item per ExportPath; the `1` before each item and the `0`
            // after the last are the client's (as guix/store.scm's export-paths writes them).
            for p in try referencesFirst(paths, connection) {
                _ = try connection.pathInfo(p)
                try sink.write([1, 0, 0, 0, 0, 0, 0, 0])
                try connection.client.call(.exportPath(p, sign: true), dataSink: sink)
            }
            try sink.write([0, 0, 0, 0, 0, 0, 0, 0])
        }
        return 0
    }

    /// The key files of the configuration directory the daemon reads.
    static func keys() throws -> ArchiveKeys {
        ArchiveKeys(layout: try StoreLayout(environment: GCCommand.environment()))
    }

    /// `guix archive --generate-key`: when root writes the pair for a store owned by another
    /// user (an unprivileged daemon), the secret key goes to that user, who must read it.
    static func generateKey(_ parameters: String) throws {
        let layout = try StoreLayout(environment: GCCommand.environment())
        let keys = ArchiveKeys(layout: layout)
        guard !keys.keyPairExists else { throw UsageError("key pair exists under '\(keys.configurationDirectory)'; remove it first") }
        writeStandardError("Please wait while gathering entropy to generate the key pair;\nthis may take time...\n")
        var owner: UInt32?
        if ProcessIdentity.effectiveUserID == 0, let status = try? HostPath.status(layout.storePath), status.owner != 0 {
            owner = status.owner
        }
        _ = try keys.generate(parameters: parameters, storeOwner: owner)
    }

    /// `guix archive --authorize`: the key on standard input joins the ACL.
    static func authorize() throws {
        let input = try StandardInputSource().readAll(limit: SExpression.maxInputSize)
        let key: GuixPublicKey
        do {
            let sexp = try SExpression(parsing: input)
            guard sexp.isList(named: "public-key") else { throw UsageError("s-expression does not denote a public key") }
            key = try GuixPublicKey(sexp)
        } catch let error as FormatError {
            throw UsageError("failed to read public key: \(error)")
        }
        try keys().authorize(key)
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
