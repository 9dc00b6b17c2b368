/// The ATerm reader for `.drv` files (formats.md §4.1–§4.3):
///
///     Derive([outputs],[inputDrvs],[inputSrcs],"platform","builder",[args],[env])
///
/// Strict by design: it accepts exactly the byte strings that `render(in:)` produces, so a
/// parse followed by a render gives back the input byte for byte. Hence: no whitespace,
/// sorted and unique outputs, input derivations (and their output names), sources and env
/// keys; only the five escapes a writer emits (`\"` `\\` `\n` `\r` `\t`) and never the raw
/// bytes they stand for; fixed-output hashes in lowercase base16. Every error names the byte
/// offset where the input stopped making sense.
public struct ATermLimits: Sendable, Hashable {
    /// Largest `.drv` accepted. Real ones are kilobytes; the biggest nixpkgs ones a few MB.
    public var maxBytes: Int
    /// Largest single string (an env value holding a script or JSON).
    public var maxStringBytes: Int
    /// Most elements in one list (outputs, inputs, args, env).
    public var maxListElements: Int

    public init(maxBytes: Int = 64 << 20, maxStringBytes: Int = 32 << 20, maxListElements: Int = 1 << 20) {
        self.maxBytes = maxBytes
        self.maxStringBytes = maxStringBytes
        self.maxListElements = maxListElements
    }

    public static let `default` = ATermLimits()
}

extension Derivation {
    /// Parses a `.drv` whose paths live in `store`.
    public init(aterm bytes: [UInt8], store: StoreDirectory, rules: StorePathName.Rules = .nix, limits: ATermLimits = .default) throws(FormatError) {
        let result: Result<Derivation, FormatError> = bytes.withUnsafeBytes { buffer in
            do throws(FormatError) {
                return .success(try Derivation(aterm: buffer, store: store, rules: rules, limits: limits))
            } catch {
                return .failure(error)
            }
        }
        self = try result.get()
    }

    public init(aterm buffer: UnsafeRawBufferPointer, store: StoreDirectory, rules: StorePathName.Rules = .nix, limits: ATermLimits = .default) throws(FormatError) {
        guard buffer.count <= limits.maxBytes else {
            throw .invalidDerivation(offset: limits.maxBytes, reason: "larger than the \(limits.maxBytes)-byte limit")
        }
        var parser = ATermParser(bytes: buffer, store: store, rules: rules, limits: limits)
        self = try parser.derivation()
    }
}

private let quote = UInt8(ascii: "\"")
private let backslash = UInt8(ascii: "\\")
private let comma = UInt8(ascii: ",")
private let openList = UInt8(ascii: "[")
private let closeList = UInt8(ascii: "]")
private let openTuple = UInt8(ascii: "(")
private let closeTuple = UInt8(ascii: ")")

struct ATermParser {
    let bytes: UnsafeRawBufferPointer
    let store: StoreDirectory
    let rules: StorePathName.Rules
    let limits: ATermLimits
    var position = 0
    /// `<store>/` as bytes.
    let storePrefix: [UInt8]

    init(bytes: UnsafeRawBufferPointer, store: StoreDirectory, rules: StorePathName.Rules, limits: ATermLimits) {
        self.bytes = bytes
        self.store = store
        self.storePrefix = Array(store.path.utf8) + [UInt8(ascii: "/")]
        self.rules = rules
        self.limits = limits
    }

    func error(_ offset: Int, _ reason: String) -> FormatError {
        .invalidDerivation(offset: offset, reason: reason)
    }

    mutating func derivation() throws(FormatError) -> Derivation {
        try literal("Derive(")
        let outputs = try outputList()
        try expect(comma, "',' after the outputs")
        let inputDerivations = try inputDerivationList()
        try expect(comma, "',' after the input derivations")
        let inputSources = try inputSourceList()
        try expect(comma, "',' after the input sources")
        let platformStart = position
        let platform = try string(escapes: false)
        guard let platformText = String(validating: platform, as: UTF8.self) else {
            throw error(platformStart, "platform is not UTF-8")
        }
        try expect(comma, "',' after the platform")
        let builder = try string()
        try expect(comma, "',' after the builder")
        let args = try argumentList()
        try expect(comma, "',' after the arguments")
        let env = try environmentList()
        try expect(closeTuple, "')' closing Derive (Derive has 7 fields)")
        guard position == bytes.count else { throw error(position, "trailing bytes after the derivation") }
        return Derivation(
            outputs: outputs, inputDerivations: inputDerivations, inputSources: inputSources,
            platform: platformText, builder: builder, args: args, env: env)
    }

    // MARK: The seven fields

    mutating func outputList() throws(FormatError) -> [String: DerivationOutput] {
        var outputs: [String: DerivationOutput] = [:]
        var previous: [UInt8]? = nil
        var fixedAt: Int? = nil
        try list { (parser: inout ATermParser) throws(FormatError) in
            let tupleStart = parser.position
            try parser.expect(openTuple, "'(' opening an output tuple")
            let nameStart = parser.position
            let name = try parser.string(escapes: false)
            guard !name.isEmpty, name.allSatisfy(StorePathName.isValidCharacter) else {
                throw parser.error(nameStart, "output name is not a valid store name")
            }
            if let previous { try parser.checkOrder(previous, name, at: nameStart, what: "output") }
            previous = name
            var starts = [Int](repeating: 0, count: 3)
            var fields: [[UInt8]] = []
            for index in 0..<3 {
                try parser.tupleSeparator(index + 1, arity: 4, what: "output")
                starts[index] = parser.position
                fields.append(try parser.string(escapes: false))
            }
            try parser.tupleEnd(arity: 4, what: "output")
            let output: DerivationOutput
            do throws(OutputFieldError) {
                output = try DerivationOutput.fromFields(path: fields[0], hashAlgo: fields[1], hash: fields[2], store: parser.store, rules: parser.rules)
            } catch {
                throw parser.error(starts[error.field - 1], error.reason)
            }
            let nameText = String(decoding: name, as: UTF8.self)
            if case .fixed = output {
                fixedAt = tupleStart
                guard nameText == "out" else { throw parser.error(nameStart, "a fixed output must be named 'out'") }
            }
            if let fixedAt, outputs.count >= 1 {
                throw parser.error(max(fixedAt, tupleStart), "a fixed-output derivation has exactly one output")
            }
            outputs[nameText] = output
        }
        guard !outputs.isEmpty else { throw error(position - 2, "a derivation needs at least one output") }
        return outputs
    }

    mutating func inputDerivationList() throws(FormatError) -> [StorePath: Set<String>] {
        var inputs: [StorePath: Set<String>] = [:]
        var previous: [UInt8]? = nil
        try list { (parser: inout ATermParser) throws(FormatError) in
            try parser.expect(openTuple, "'(' opening an input derivation tuple")
            let pathStart = parser.position
            let pathBytes = try parser.string(escapes: false)
            if let previous { try parser.checkOrder(previous, pathBytes, at: pathStart, what: "input derivation") }
            previous = pathBytes
            let path = try parser.storePath(pathBytes, at: pathStart)
            guard path.isDerivation else { throw parser.error(pathStart, "input derivation does not end in .drv") }
            try parser.tupleSeparator(1, arity: 2, what: "input derivation")
            var names = Set<String>()
            var previousName: [UInt8]? = nil
            try parser.list { (parser: inout ATermParser) throws(FormatError) in
                let nameStart = parser.position
                let name = try parser.string(escapes: false)
                guard !name.isEmpty, name.allSatisfy(StorePathName.isValidCharacter) else {
                    throw parser.error(nameStart, "output name is not a valid store name")
                }
                if let previousName { try parser.checkOrder(previousName, name, at: nameStart, what: "output name") }
                previousName = name
                names.insert(String(decoding: name, as: UTF8.self))
            }
            guard !names.isEmpty else { throw parser.error(parser.position - 2, "input derivation with no wanted outputs") }
            try parser.tupleEnd(arity: 2, what: "input derivation")
            inputs[path] = names
        }
        return inputs
    }

    mutating func inputSourceList() throws(FormatError) -> Set<StorePath> {
        var sources = Set<StorePath>()
        var previous: [UInt8]? = nil
        try list { (parser: inout ATermParser) throws(FormatError) in
            let start = parser.position
            let bytes = try parser.string(escapes: false)
            if let previous { try parser.checkOrder(previous, bytes, at: start, what: "input source") }
            previous = bytes
            sources.insert(try parser.storePath(bytes, at: start))
        }
        return sources
    }

    mutating func argumentList() throws(FormatError) -> [[UInt8]] {
        var args: [[UInt8]] = []
        try list { (parser: inout ATermParser) throws(FormatError) in args.append(try parser.string()) }
        return args
    }

    mutating func environmentList() throws(FormatError) -> [[UInt8]: [UInt8]] {
        var env: [[UInt8]: [UInt8]] = [:]
        var previous: [UInt8]? = nil
        try list { (parser: inout ATermParser) throws(FormatError) in
            try parser.expect(openTuple, "'(' opening an env tuple")
            let keyStart = parser.position
            let key = try parser.string()
            if let previous { try parser.checkOrder(previous, key, at: keyStart, what: "env key") }
            try parser.tupleSeparator(1, arity: 2, what: "env")
            let value = try parser.string()
            try parser.tupleEnd(arity: 2, what: "env")
            env[key] = value
            previous = key
        }
        return env
    }

    // MARK: Pieces

    func storePath(_ bytes: [UInt8], at offset: Int) throws(FormatError) -> StorePath {
        // Fast path on bytes: `<store>/` then a base name with no further slash. Anything
        // else goes through the general parser, which also words the error.
        let prefix = storePrefix
        if bytes.count > prefix.count, bytes.starts(with: prefix), !bytes[prefix.count...].contains(UInt8(ascii: "/")),
           let path = try? StorePath(baseName: String(decoding: bytes[prefix.count...], as: UTF8.self), rules: rules) {
            return path
        }
        do {
            return try StorePath(parsing: String(decoding: bytes, as: UTF8.self), in: store, rules: rules)
        } catch {
            throw self.error(offset, error.description)
        }
    }

    /// Sets and maps are written in byte order without repeats (§4.3).
    func checkOrder(_ previous: [UInt8], _ current: [UInt8], at offset: Int, what: String) throws(FormatError) {
        if previous == current { throw error(offset, "duplicate \(what) '\(Self.show(current))'") }
        guard previous.lexicographicallyPrecedes(current) else {
            throw error(offset, "\(what) '\(Self.show(current))' is out of order (after '\(Self.show(previous))')")
        }
    }

    static func show(_ bytes: [UInt8]) -> String {
        String(decoding: bytes.prefix(80), as: UTF8.self) + (bytes.count > 80 ? "…" : "")
    }

    /// `[` element (`,` element)* `]` or `[]`.
    mutating func list(_ element: (inout ATermParser) throws(FormatError) -> Void) throws(FormatError) {
        try expect(openList, "'['")
        if peek() == closeList {
            position += 1
            return
        }
        var count = 0
        while true {
            count += 1
            guard count <= limits.maxListElements else {
                throw error(position, "more than \(limits.maxListElements) list elements")
            }
            try element(&self)
            guard let next = peek() else { throw error(position, "unexpected end of input in a list") }
            position += 1
            if next == closeList { return }
            guard next == comma else { throw error(position - 1, "expected ',' or ']' in a list") }
        }
    }

    /// The `,` before field `index` (0-based) of a tuple with `arity` fields.
    mutating func tupleSeparator(_ index: Int, arity: Int, what: @autoclosure () -> String) throws(FormatError) {
        if peek() == closeTuple { throw error(position, "\(what()) tuple has \(index) fields, expected \(arity)") }
        try expect(comma, "',' in \(what()) tuple")
    }

    mutating func tupleEnd(arity: Int, what: @autoclosure () -> String) throws(FormatError) {
        if peek() == comma { throw error(position, "\(what()) tuple has more than \(arity) fields") }
        try expect(closeTuple, "')' closing \(what()) tuple")
    }

    func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

    mutating func expect(_ byte: UInt8, _ what: @autoclosure () -> String) throws(FormatError) {
        guard position < bytes.count else { throw error(position, "unexpected end of input, expected \(what())") }
        guard bytes[position] == byte else { throw error(position, "expected \(what())") }
        position += 1
    }

    mutating func literal(_ text: StaticString) throws(FormatError) {
        let expected = UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)
        for (index, byte) in expected.enumerated() {
            guard position + index < bytes.count, bytes[position + index] == byte else {
                throw error(position + index, "expected '\(text)'")
            }
        }
        position += expected.count
    }

    /// A quoted string, unescaped. With `escapes: false` (fields Nix 2.8 writes raw, §4.2)
    /// any backslash or byte that needs escaping is an error, so raw and escaped rendering agree.
    mutating func string(escapes: Bool = true) throws(FormatError) -> [UInt8] {
        let open = position
        try expect(quote, "'\"' opening a string")
        var out: [UInt8] = []
        var runStart = position
        while true {
            // Skip eight ordinary bytes at a time: a word with no byte below 0x23 (controls,
            // space, '!', '"') and none equal to '\\' cannot end or escape anything.
            while bytes.count - position >= 8 {
                let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self))
                let ones: UInt64 = 0x0101_0101_0101_0101
                let highs: UInt64 = 0x8080_8080_8080_8080
                let below = (word &- ones &* 0x23) & ~word & highs
                let slashes = word ^ (ones &* 0x5C)
                let slash = (slashes &- ones) & ~slashes & highs
                if below | slash != 0 { break }
                position += 8
            }
            guard position < bytes.count else { throw error(open, "unterminated string") }
            let byte = bytes[position]
            // Most bytes are ordinary: everything above '"' except '\\'.
            if byte > quote && byte != backslash {
                position += 1
                continue
            }
            switch byte {
            case quote:
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<position]))
                position += 1
                guard out.count <= limits.maxStringBytes else {
                    throw error(open, "string longer than the \(limits.maxStringBytes)-byte limit")
                }
                return out
            case backslash:
                guard escapes else { throw error(position, "escape in a field that is never escaped") }
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<position]))
                guard position + 1 < bytes.count else { throw error(position, "escape at end of input") }
                switch bytes[position + 1] {
                case quote: out.append(quote)
                case backslash: out.append(backslash)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                default: throw error(position, "unknown escape (writers emit only \\\" \\\\ \\n \\r \\t)")
                }
                position += 2
                runStart = position
            case 0x0A, 0x0D, 0x09:
                throw error(position, "raw newline, carriage return or tab inside a string (writers escape them)")
            default:
                position += 1
            }
        }
    }
}
