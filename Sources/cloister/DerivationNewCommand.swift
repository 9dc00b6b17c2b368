import Glibc
import LinuxSystem
import StoreFormats

/// `cloister derivation new NAME --builder=PATH …`: writes an input-addressed derivation the
/// way Guix's `derivation` procedure does — outputs blanked, the masked derivation hashed
/// (formats.md §4.6), output paths and `$out`-style variables filled in — adds the `.drv`
/// through the daemon (AddTextToStore, its inputs as references) and prints its path. Inputs
/// are `.drv` files already in the store (their `out` output) or any store item; the builder
/// sees each input's path in the variable named for it. Enough to write small DAGs by hand
/// (`make demo` does) without Guile or Nix.
enum DerivationNewCommand {
    static let usage = """
        Usage: cloister derivation new [OPTION…] NAME
        Write a derivation NAME.drv, add it to the store through the daemon, print its path.
          -b, --builder=PATH         the program to run (absolute; a store file makes its item an input)
          -a, --arg=ARG              an argument for the builder (repeatable, in order)
          -e, --env=VAR=VALUE        an environment variable for the builder (repeatable)
          -i, --input=VAR=ITEM       an input: a .drv in the store (the builder gets its 'out' path
                                     in $VAR) or any store item (its path in $VAR); repeatable
          -o, --output=NAME          an output (repeatable; default 'out')
          -s, --system=SYSTEM        the platform (default: this machine's, e.g. x86_64-linux)
          -h, --help                 display this help and exit
        """

    static func run(_ arguments: [String]) throws -> Int32 {
        var name: String?
        var builder: String?
        var args: [[UInt8]] = []
        var env: [[UInt8]: [UInt8]] = [:]
        var inputs: [(variable: String, item: String)] = []
        var outputs: [String] = []
        var system = hostSystem
        var iterator = OptionIterator(arguments, valued: ["-b", "--builder", "-a", "--arg", "-e", "--env", "-i", "--input",
                                                         "-o", "--output", "-s", "--system"])
        func pair(_ option: String, _ text: String) throws -> (String, String) {
            guard let eq = text.firstIndex(of: "="), eq != text.startIndex else { throw UsageError("\(option): '\(text)' is not VAR=VALUE") }
            return (String(text[..<eq]), String(text[text.index(after: eq)...]))
        }
        while let option = try iterator.next() {
            switch option {
            case .flag("-h"), .flag("--help"):
                print(usage)
                return 0
            case .value("-b", let v), .value("--builder", let v): builder = v
            case .value("-a", let v), .value("--arg", let v): args.append(Array(v.utf8))
            case .value("-e", let v), .value("--env", let v):
                let (k, value) = try pair("--env", v)
                env[Array(k.utf8)] = Array(value.utf8)
            case .value("-i", let v), .value("--input", let v): inputs.append(try pair("--input", v))
            case .value("-o", let v), .value("--output", let v): outputs.append(v)
            case .value("-s", let v), .value("--system", let v): system = v
            case .positional(let p):
                guard name == nil else { throw UsageError("one NAME only (got '\(name ?? "")' and '\(p)')") }
                name = p
            case .flag(let f): throw UsageError("unrecognized option '\(f)'")
            case .value(let o, _): throw UsageError("unrecognized option '\(o)'")
            }
        }
        guard let name else { throw UsageError("missing NAME; try 'cloister derivation new --help'") }
        guard let builder, builder.hasPrefix("/") else { throw UsageError("--builder=PATH (absolute) is required") }
        if outputs.isEmpty { outputs = ["out"] }

        let connection = try DaemonConnection.open()
        let store = connection.storeDirectory
        var inputDerivations: [StorePath: Set<String>] = [:]
        var inputSources = Set<StorePath>()
        var loaded: [StorePath: Derivation] = [:]
        var inputOutputs = Set<StorePath>()
        for (variable, item) in inputs {
            let path = try connection.storePath(item)
            _ = try connection.pathInfo(path)
            if path.isDerivation {
                let derivation = try load(path, store)
                loaded[path] = derivation
                guard let out = derivation.outputs["out"]?.path else {
                    throw UsageError("\(item): this derivation has no 'out' output with a known path")
                }
                inputDerivations[path, default: []].insert("out")
                inputOutputs.insert(out)
                env[Array(variable.utf8)] = Array(out.absolute(in: store).utf8)
            } else {
                inputSources.insert(path)
                env[Array(variable.utf8)] = Array(path.absolute(in: store).utf8)
            }
        }
        if let item = try? store.storePath(containing: builder, rules: .nix), !inputOutputs.contains(item) {
            _ = try connection.pathInfo(item)
            inputSources.insert(item)
        }
        let placeholder = try StorePath(baseName: "00000000000000000000000000000000-" + name)
        var derivation = Derivation(outputs: Dictionary(uniqueKeysWithValues: outputs.map { ($0, DerivationOutput.inputAddressed(placeholder)) }),
                                    inputDerivations: inputDerivations, inputSources: inputSources, platform: system,
                                    builder: Array(builder.utf8), args: args, env: env)
        derivation.env[Array("name".utf8)] = Array(name.utf8)
        derivation.env[Array("system".utf8)] = Array(system.utf8)
        derivation.env[Array("builder".utf8)] = Array(builder.utf8)
        // Hashing reaches the inputs' inputs too: those are read from the store as needed.
        var hasher = DerivationHasher(store: store) { (path: StorePath) throws(FormatError) -> Derivation in
            if let known = loaded[path] { return known }
            guard let fd = try? FileDescriptor.open(path.absolute(in: store), .readOnly), let bytes = try? fd.readAll() else {
                throw FormatError.unresolvedDerivation(path.absolute(in: store), reason: "not readable in the store")
            }
            let derivation = try Derivation(aterm: bytes, store: store)
            loaded[path] = derivation
            return derivation
        }
        try derivation.fillInOutputPaths(name: name, hasher: &hasher, rules: .nix)
        let drvPath = try connection.client.addTextToStore(name: name + ".drv", text: derivation.render(in: store),
                                                           references: Array(inputDerivations.keys) + Array(inputSources))
        print(connection.render(drvPath))
        return 0
    }

    /// A .drv of the store, read from the store directory (world-readable, like Guix's clients read it).
    static func load(_ path: StorePath, _ store: StoreDirectory) throws -> Derivation {
        let file = path.absolute(in: store)
        do {
            return try Derivation(aterm: try FileDescriptor.open(file, .readOnly).readAll(), store: store)
        } catch {
            throw UsageError("\(file): cannot read this derivation: \(error)")
        }
    }

    static var hostSystem: String {
        #if arch(x86_64)
        return "x86_64-linux"
        #elseif arch(arm64)
        return "aarch64-linux"
        #else
        return "unknown-linux"
        #endif
    }
}
