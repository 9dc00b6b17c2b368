import Glibc
import LocalStore
import StoreFormats

/// `cloister store-path`: the store path an object would get (formats.md §2.3–§2.4), printed
/// on one line, without touching any store.
///
///     --text NAME FILE [--ref PATH]…          a text object (`.drv`, `builtins.toFile`)
///     --source NAME PATH [--ref PATH]…        NAR SHA-256 of PATH (or give --hash sha256:…)
///     --fixed [--recursive] --hash ALGO:HASH NAME
///
/// The store directory is `--store-dir`, else `$NIX_STORE_DIR`, else /gnu/store; names follow
/// Guix's rules in /gnu/store and Nix 2.8's elsewhere.
enum StorePathCommand {
    static let usage = """
        Usage: cloister store-path --text NAME FILE [--ref PATH]…
               cloister store-path --source NAME PATH [--ref PATH]… [--self]
               cloister store-path --source NAME --hash sha256:HASH [--ref PATH]… [--self]
               cloister store-path --fixed [--recursive] --hash ALGO:HASH NAME
        Print the store path of a text file, a source tree or a fixed-output object.
          --ref PATH         a store path the object refers to (repeatable)
          --self             the source object refers to itself
          --hash ALGO:HASH   the content hash (any of base16, nix-base32, base64; or SRI)
          --recursive        the fixed-output hash is over the NAR (default: the file's bytes)
          --store-dir DIR    the store directory (default: $NIX_STORE_DIR, else /gnu/store)
        """

    enum Kind { case text, source, fixed }

    static func run(_ arguments: [String]) throws -> Int32 {
        var kind: Kind?
        var recursive = false
        var selfReference = false
        var hashText: String?
        var referenceTexts: [String] = []
        var storeDirectoryText: String?
        var positional: [String] = []
        var iterator = OptionIterator(arguments, valued: ["--ref", "--hash", "--store-dir"])
        func setKind(_ k: Kind) throws {
            guard kind == nil else { throw UsageError("choose one of --text, --source and --fixed") }
            kind = k
        }
        while let option = try iterator.next() {
            switch option {
            case .flag("-h"), .flag("--help"):
                print(usage)
                return 0
            case .flag("--text"): try setKind(.text)
            case .flag("--source"): try setKind(.source)
            case .flag("--fixed"): try setKind(.fixed)
            case .flag("--recursive"): recursive = true
            case .flag("--self"): selfReference = true
            case .value("--ref", let v): referenceTexts.append(v)
            case .value("--hash", let v):
                guard hashText == nil else { throw UsageError("--hash given twice") }
                hashText = v
            case .value("--store-dir", let v): storeDirectoryText = v
            case .positional(let p): positional.append(p)
            case .flag(let f): throw UsageError("unknown option '\(f)'")
            case .value(let o, _): throw UsageError("unknown option '\(o)'")
            }
        }
        guard let kind else { throw UsageError("say --text, --source or --fixed; try 'cloister store-path --help'") }
        let store = try StoreDirectory(storeDirectoryText ?? environment("NIX_STORE_DIR") ?? StoreDirectory.guix.path)
        let rules: StorePathName.Rules = store == .guix ? .guix : .nix
        let references = try referenceTexts.map { text throws(FormatError) in
            try StorePath(parsing: text, in: store, rules: rules)
        }
        if kind != .source && selfReference { throw UsageError("--self goes with --source") }
        if kind != .fixed && recursive { throw UsageError("--recursive goes with --fixed") }

        let path: StorePath
        switch kind {
        case .text:
            guard positional.count == 2 else { throw UsageError("--text takes NAME and FILE") }
            guard hashText == nil else { throw UsageError("--text hashes FILE itself; drop --hash") }
            let contentHash = try HashCommand.hashFlat(positional[1], .sha256)
            path = try store.makeTextPath(name: positional[0], contentHash: contentHash, references: references, rules: rules)
        case .source:
            let narHash: Hash
            if let hashText {
                guard positional.count == 1 else { throw UsageError("--source with --hash takes only NAME") }
                narHash = try Hash(parsing: hashText)
                guard narHash.algorithm == .sha256 else { throw UsageError("a source path is named by a SHA-256") }
            } else {
                guard positional.count == 2 else { throw UsageError("--source takes NAME and PATH") }
                narHash = try NARDumper.hash(path: positional[1], algorithm: .sha256).hash
            }
            path = try store.makeFixedOutputPath(method: .recursive, hash: narHash, name: positional[0],
                                                 references: references, hasSelfReference: selfReference, rules: rules)
        case .fixed:
            guard positional.count == 1 else { throw UsageError("--fixed takes NAME") }
            guard let hashText else { throw UsageError("--fixed needs --hash ALGO:HASH") }
            guard references.isEmpty else { throw UsageError("--ref goes with --text and --source") }
            path = try store.makeFixedOutputPath(method: recursive ? .recursive : .flat, hash: try Hash(parsing: hashText),
                                                 name: positional[0], rules: rules)
        }
        print(path.absolute(in: store))
        return 0
    }

    static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }
}
