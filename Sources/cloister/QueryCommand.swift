import StoreFormats
import WorkerProtocol

/// `cloister query FLAG PATH…`, as `nix-store --query`, through the daemon. Paths may be store
/// items, files inside them or symlinks to them. `--references`, `--referrers` and
/// `--requisites` print the union for all PATHS, sorted; the others print one line per PATH.
enum QueryCommand {
    static let usage = """
        Usage: cloister query FLAG PATH…
        Ask the daemon about store items.
              --references     the items PATHS refer to
              --referrers      the items that refer to PATHS
          -R, --requisites     the closure of PATHS (PATHS and everything they refer to, recursively)
              --deriver        the derivation that built each PATH ('unknown-deriver' if none)
              --hash           the SHA-256 of each PATH's NAR (sha256:NIX32)
              --size           the size in bytes of each PATH's NAR
              --valid          print each valid PATH; fail naming the first one that is not
          -h, --help           display this help and exit
        """

    enum Query: String { case references, referrers, requisites, deriver, hash, size, valid }

    static func run(_ arguments: [String]) throws -> Int32 {
        var query: Query?
        var items: [String] = []
        var iterator = OptionIterator(arguments, valued: [])
        while let option = try iterator.next() {
            switch option {
            case .flag("-h"), .flag("--help"):
                print(usage)
                return 0
            case .flag("-R"): query = try only(query, .requisites)
            case .flag(let f) where f.hasPrefix("--") && Query(rawValue: String(f.dropFirst(2))) != nil:
                query = try only(query, Query(rawValue: String(f.dropFirst(2)))!)
            case .positional(let p): items.append(p)
            case .flag(let f): throw UsageError("unrecognized option '\(f)'")
            case .value(let o, _): throw UsageError("unrecognized option '\(o)'")
            }
        }
        guard let query else { throw UsageError("no query given; try 'cloister query --help'") }
        guard !items.isEmpty else { throw UsageError("missing PATH arguments; try 'cloister query --help'") }
        let connection = try DaemonConnection.open()
        let paths = try items.map { try connection.storePath($0) }
        let client = connection.client
        func printSorted(_ set: Set<StorePath>) { for p in set.sorted() { print(connection.render(p)) } }

        switch query {
        case .references:
            var all = Set<StorePath>()
            for p in paths { all.formUnion(try connection.pathInfo(p).references) }
            printSorted(all)
        case .referrers:
            var all = Set<StorePath>()
            for p in paths {
                _ = try connection.pathInfo(p)
                for text in try client.strings(.queryReferrers(p)) { all.insert(try client.context.parse(text)) }
            }
            printSorted(all)
        case .requisites:
            printSorted(try closure(paths, connection))
        case .deriver:
            for p in paths { print(try connection.pathInfo(p).deriver.map(connection.render) ?? "unknown-deriver") }
        case .hash:
            for p in paths { print("sha256:" + (try connection.pathInfo(p).narHash.nix32)) }
        case .size:
            for p in paths { print(try connection.pathInfo(p).narSize) }
        case .valid:
            for p in paths {
                guard try client.isValidPath(p) else {
                    throw UsageError("\(connection.render(p)): not a valid store item; add it with 'cloister add' or build its derivation")
                }
                print(connection.render(p))
            }
        }
        return 0
    }

    static func only(_ current: Query?, _ new: Query) throws -> Query {
        if let current, current != new { throw UsageError("--\(current.rawValue) and --\(new.rawValue) are exclusive; give one query") }
        return new
    }

    /// The closure of `roots` over references, one QueryPathInfo per item.
    static func closure(_ roots: [StorePath], _ connection: DaemonConnection) throws -> Set<StorePath> {
        var seen = Set<StorePath>()
        var pending = roots
        while let p = pending.popLast() {
            guard seen.insert(p).inserted else { continue }
            pending += try connection.pathInfo(p).references.filter { !seen.contains($0) }
        }
        return seen
    }
}
