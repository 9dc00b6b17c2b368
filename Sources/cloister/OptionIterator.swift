/// Splits command-line arguments in the GNU manner: `--opt=VALUE`, `--opt VALUE`, `-xVALUE`,
/// `-x VALUE`, flags, `--` ending options. Which options take a value is given by the caller.
struct OptionIterator {
    enum Item: Equatable {
        case flag(String)
        case value(String, String)
        case positional(String)
    }

    private var arguments: ArraySlice<String>
    private var onlyPositional = false
    /// Options that take a value (both spellings).
    let valued: Set<String>

    init(_ arguments: [String], valued: Set<String> = ["-S", "--serializer", "-f", "--format", "-H", "--hash"]) {
        self.arguments = arguments[...]
        self.valued = valued
    }

    mutating func next() throws -> Item? {
        guard let argument = arguments.popFirst() else { return nil }
        if onlyPositional || argument == "-" || !argument.hasPrefix("-") { return .positional(argument) }
        if argument == "--" {
            onlyPositional = true
            return try next()
        }
        if argument.hasPrefix("--") {
            if let eq = argument.firstIndex(of: "=") {
                return .value(String(argument[..<eq]), String(argument[argument.index(after: eq)...]))
            }
            if valued.contains(argument) {
                guard let value = arguments.popFirst() else { throw UsageError("option '\(argument)' needs a value") }
                return .value(argument, value)
            }
            return .flag(argument)
        }
        let short = String(argument.prefix(2))
        if valued.contains(short) {
            if argument.count > 2 { return .value(short, String(argument.dropFirst(2))) }
            guard let value = arguments.popFirst() else { throw UsageError("option '\(short)' needs a value") }
            return .value(short, value)
        }
        return .flag(argument)
    }
}
