/// Splits argv the way glibc's `getopt_long` does under argp (default flags, so arguments are
/// permuted: every option is seen first, non-options are collected for the end):
///
/// - `--name=VALUE`, `--name VALUE` (required argument: the next word is taken whatever it is,
///   even `--`), `--name=VALUE` only for optional arguments;
/// - a long name may be abbreviated to any prefix that is unambiguous; an exact match always
///   wins; a prefix matching several entries is ambiguous unless they all agree with the first
///   match on key and argument kind (aliases);
/// - short clusters `-Vc4`, `-c 4`; `--` ends options; `-` alone is a non-option.
///
/// Error texts are glibc's (posix/getopt.c, glibc ≥ 2.26), prefixed by argv[0] exactly as given,
/// as getopt does; argp then adds its "Try …" line (see `DaemonCommandLine`).
struct ArgpScanner {
    enum Event: Equatable {
        case option(DaemonOption, argument: String?)
    }

    /// One getopt diagnostic line (without the final newline).
    struct Failure: Error, Equatable {
        let message: String
    }

    private let table: [DaemonOption]
    private let programPath: String
    private var words: ArraySlice<String>
    /// Remaining short options of a cluster (`-Vc4` → `c4` after `V`).
    private var cluster: Substring = ""
    private var optionsEnded = false
    /// Non-option words, in order, for argp's "Too many arguments" check.
    private(set) var positionals: [String] = []

    init(arguments: [String], programPath: String, table: [DaemonOption] = DaemonOption.table) {
        self.words = arguments[...]
        self.programPath = programPath
        self.table = table
    }

    /// The next option, nil when argv is exhausted (positionals are then complete).
    mutating func next() throws(Failure) -> Event? {
        if let letter = cluster.popFirst() { return try short(letter) }
        while let word = words.popFirst() {
            if optionsEnded || word == "-" || !word.hasPrefix("-") {
                positionals.append(word)
                continue
            }
            if word == "--" {
                optionsEnded = true
                continue
            }
            if word.hasPrefix("--") { return try long(String(word.dropFirst(2))) }
            cluster = word.dropFirst(2)
            return try short(word[word.index(after: word.startIndex)])
        }
        return nil
    }

    private mutating func long(_ text: String) throws(Failure) -> Event {
        let name: Substring
        let inlineValue: String?
        if let equals = text.firstIndex(of: "=") {
            name = text[..<equals]
            inlineValue = String(text[text.index(after: equals)...])
        } else {
            name = text[...]
            inlineValue = nil
        }
        let option = try match(name, whole: text)
        switch option.argument {
        case .none:
            if inlineValue != nil {
                throw Failure(message: "\(programPath): option '--\(option.long)' doesn't allow an argument")
            }
            return .option(option, argument: nil)
        case .optional:
            return .option(option, argument: inlineValue)
        case .required:
            if let inlineValue { return .option(option, argument: inlineValue) }
            guard let value = words.popFirst() else {
                throw Failure(message: "\(programPath): option '--\(option.long)' requires an argument")
            }
            return .option(option, argument: value)
        }
    }

    /// getopt's `process_long_option` lookup: exact name, else the unique (up to aliases) prefix.
    private func match(_ name: Substring, whole: String) throws(Failure) -> DaemonOption {
        if let exact = table.first(where: { $0.long == name }) { return exact }
        var first: DaemonOption?
        var ambiguous: [DaemonOption] = []
        for option in table where option.long.hasPrefix(name) {
            guard let found = first else {
                first = option
                continue
            }
            if found.key != option.key || found.argument.kind != option.argument.kind {
                if ambiguous.isEmpty { ambiguous.append(found) }
                ambiguous.append(option)
            }
        }
        if !ambiguous.isEmpty {
            let list = ambiguous.map { " '--\($0.long)'" }.joined()
            throw Failure(message: "\(programPath): option '--\(whole)' is ambiguous; possibilities:\(list)")
        }
        guard let found = first else {
            throw Failure(message: "\(programPath): unrecognized option '--\(whole)'")
        }
        return found
    }

    private mutating func short(_ letter: Character) throws(Failure) -> Event {
        guard let option = table.first(where: { $0.short == letter }) else {
            cluster = ""
            throw Failure(message: "\(programPath): invalid option -- '\(letter)'")
        }
        switch option.argument {
        case .none:
            return .option(option, argument: nil)
        case .optional:
            // `-xVALUE` only, as getopt's "x::".
            defer { cluster = "" }
            return .option(option, argument: cluster.isEmpty ? nil : String(cluster))
        case .required:
            if !cluster.isEmpty {
                defer { cluster = "" }
                return .option(option, argument: String(cluster))
            }
            guard let value = words.popFirst() else {
                throw Failure(message: "\(programPath): option requires an argument -- '\(letter)'")
            }
            return .option(option, argument: value)
        }
    }
}

extension DaemonOption.Argument {
    /// getopt's has_arg: 0, 1 or 2 (the placeholder text does not matter for matching).
    var kind: Int {
        switch self {
        case .none: return 0
        case .required: return 1
        case .optional: return 2
        }
    }
}
