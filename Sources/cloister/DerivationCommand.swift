import Glibc
import LinuxSystem
import StoreFormats

/// `cloister derivation show [-r] FILE.drv…`: the derivations as JSON, in the shape of Nix 2.8's
/// `nix show-derivation` (same keys, order and two-space layout): keyed by `.drv` path, with
/// outputs (recomputed paths; `hashAlgo`/`hash` for fixed outputs), inputSrcs, inputDrvs,
/// system, builder, args, env.
///
/// The store directory is the file's folder when that folder is a store (`…/store/<hash>-<name>.drv`),
/// else `$NIX_STORE_DIR`, else /gnu/store. Input derivations, needed to recompute output
/// paths, are read from beside the file, then from the store directory.
enum DerivationCommand {
    static let usage = """
        Usage: cloister derivation show [-r|--recursive] FILE.drv…
               cloister derivation new [OPTION…] NAME   (see 'cloister derivation new --help')
        Print derivations as JSON (like `nix show-derivation`), or write one.
          -r, --recursive  also print every input derivation, transitively
        """

    static func run(_ arguments: [String]) throws -> Int32 {
        guard let sub = arguments.first else { throw UsageError("expected a subcommand ('show' or 'new'); try 'cloister derivation --help'") }
        if sub == "--help" || sub == "-h" {
            print(usage)
            return 0
        }
        if sub == "new" { return try DerivationNewCommand.run(Array(arguments.dropFirst())) }
        guard sub == "show" else { throw UsageError("unknown subcommand '\(sub)' ('show' or 'new')") }
        var recursive = false
        var files: [String] = []
        var iterator = OptionIterator(Array(arguments.dropFirst()), valued: [])
        while let option = try iterator.next() {
            switch option {
            case .flag("-h"), .flag("--help"):
                print(usage)
                return 0
            case .flag("-r"), .flag("--recursive"): recursive = true
            case .positional(let p): files.append(p)
            case .flag(let f): throw UsageError("unknown option '\(f)'")
            case .value(let o, _): throw UsageError("unknown option '\(o)'")
            }
        }
        guard !files.isEmpty else { throw UsageError("expected at least one FILE.drv\n\(usage)") }

        var shown: [String: JSONValue] = [:]
        for file in files {
            var loader = try DerivationLoader(file: file)
            var pending = [(path: try loader.drvPath(), derivation: loader.top)]
            while let (path, derivation) = pending.popLast() {
                let key = path.absolute(in: loader.store)
                guard shown[key] == nil else { continue }
                shown[key] = try loader.json(derivation, name: try Derivation.name(of: path))
                if recursive {
                    for input in derivation.inputDerivations.keys.sorted() {
                        pending.append((input, try loader.load(input)))
                    }
                }
            }
        }
        var out = JSONWriter()
        out.write(.object(shown.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }))
        out.bytes.append(0x0A)
        try out.bytes.withUnsafeBytes { try writeStandardOutput($0) }
        return 0
    }
}

/// Reads one `.drv` and the input derivations it needs.
struct DerivationLoader {
    let file: String
    let folder: String
    let store: StoreDirectory
    let top: Derivation
    var cache: [StorePath: Derivation] = [:]

    init(file: String) throws {
        self.file = file
        let slash = file.lastIndex(of: "/")
        folder = slash.map { String(file[..<$0]) } ?? "."
        let base = slash.map { String(file[file.index(after: $0)...]) } ?? file
        // Candidates in order; the first under which the file parses wins (a store mounted
        // elsewhere, e.g. a chroot store, has a folder that is not its logical store path).
        var candidates: [StoreDirectory] = []
        if folder.hasPrefix("/"), folder.hasSuffix("/store"), (try? StorePath(baseName: base)) != nil,
           let dir = try? StoreDirectory(folder) {
            candidates.append(dir)
        }
        if let env = getenv("NIX_STORE_DIR").map({ String(cString: $0) }), !env.isEmpty {
            candidates.append(try StoreDirectory(env))
        } else {
            candidates.append(.guix)
        }
        let bytes: [UInt8]
        do {
            bytes = try FileDescriptor.open(file, .readOnly).readAll()
        } catch {
            throw UsageError("cannot read '\(file)': \(error)")
        }
        var firstError: FormatError? = nil
        for candidate in candidates {
            do {
                top = try Derivation(aterm: bytes, store: candidate)
                store = candidate
                return
            } catch {
                firstError = firstError ?? error
            }
        }
        throw UsageError("'\(file)': \(firstError.map { "\($0)" } ?? "unreadable") (store directory \(candidates[0].path))")
    }

    /// The file's own store path when it is in the store, else the path its contents give.
    func drvPath() throws -> StorePath {
        let base = file.split(separator: "/").last.map(String.init) ?? file
        if let path = try? StorePath(baseName: base), path.isDerivation { return path }
        let name = base.hasSuffix(".drv") ? String(base.dropLast(4)) : base
        return try top.path(name: name, in: store)
    }

    mutating func load(_ path: StorePath) throws(FormatError) -> Derivation {
        if let cached = cache[path] { return cached }
        for candidate in [folder + "/" + path.baseName, path.absolute(in: store)] {
            guard let fd = try? FileDescriptor.open(candidate, .readOnly), let bytes = try? fd.readAll() else { continue }
            let derivation = try Derivation(aterm: bytes, store: store)
            cache[path] = derivation
            return derivation
        }
        throw .unresolvedDerivation(path.absolute(in: store), reason: "not beside \(file) nor in the store")
    }

    mutating func json(_ derivation: Derivation, name: String) throws -> JSONValue {
        var computed: [String: StorePath] = [:]
        // Output paths need every input derivation; without them, show the recorded ones.
        var copy = self
        var hasher = DerivationHasher(store: store) { (path: StorePath) throws(FormatError) -> Derivation in
            try copy.load(path)
        }
        do {
            computed = try derivation.computedOutputPaths(name: name, hasher: &hasher)
        } catch {
            writeStandardError("cloister: derivation: warning: cannot recompute the output paths of \(name): \(error)\n")
        }
        cache.merge(copy.cache) { a, _ in a }
        var outputs: [(String, JSONValue)] = []
        for outputName in derivation.sortedOutputNames {
            guard let output = derivation.outputs[outputName] else { continue }
            var fields: [(String, JSONValue)] = []
            if let recorded = output.path, let path = computed[outputName], path != recorded {
                writeStandardError("cloister: derivation: warning: output '\(outputName)' of \(name) is \(recorded.absolute(in: store)) but should be \(path.absolute(in: store))\n")
            }
            if let path = computed[outputName] ?? output.path {
                fields.append(("path", .string(Array(path.absolute(in: store).utf8))))
            }
            if !output.hashAlgoField.isEmpty { fields.append(("hashAlgo", .string(Array(output.hashAlgoField.utf8)))) }
            if !output.hashField.isEmpty { fields.append(("hash", .string(Array(output.hashField.utf8)))) }
            outputs.append((outputName, .object(fields)))
        }
        let inputDrvs = derivation.inputDerivations.keys.sorted().map { path in
            (path.absolute(in: store), JSONValue.array((derivation.inputDerivations[path] ?? []).sorted(by: Derivation.byteOrder).map { .string(Array($0.utf8)) }))
        }
        let env = derivation.env.keys.sorted { $0.lexicographicallyPrecedes($1) }.map { key in
            (JSONWriter.text(key), JSONValue.string(derivation.env[key] ?? []))
        }
        return .object([
            ("outputs", .object(outputs)),
            ("inputSrcs", .array(derivation.inputSources.sorted().map { .string(Array($0.absolute(in: store).utf8)) })),
            ("inputDrvs", .object(inputDrvs)),
            ("system", .string(Array(derivation.platform.utf8))),
            ("builder", .string(derivation.builder)),
            ("args", .array(derivation.args.map { .string($0) })),
            ("env", .object(env)),
        ])
    }
}
