/// The binary ("basic derivation") form sent with `BuildDerivation` (op 36, formats.md §6.6),
/// built from the §1.2 primitives (u64 little-endian; strings as u64 length, bytes, zero
/// padding to 8):
///
///     u64 n, n × (string name, string path, string hashAlgo, string hash)
///     u64 k, k × string inputSrc
///     string platform, string builder
///     u64 a, a × string arg
///     u64 e, e × (string key, string value)
///
/// No input derivations: the derivation is "resolved". The output strings are the ATerm
/// tuple's and are read by the same rules. Decoding is strict (non-zero padding, duplicate
/// names, counts that cannot fit in the remaining bytes are errors; order is not required,
/// since readers must not depend on it). The worker protocol had no shared wire reader when
/// this was written, so the minimal one it needs lives here.
extension Derivation {
    /// The wire bytes of this derivation without its input derivations.
    public func wireEncoding(in store: StoreDirectory) -> [UInt8] {
        var out = WireBytes()
        out.integer(UInt64(outputs.count))
        for name in sortedOutputNames {
            guard let output = outputs[name] else { continue }
            out.string(Array(name.utf8))
            out.string(Array((output.path?.absolute(in: store) ?? "").utf8))
            out.string(Array(output.hashAlgoField.utf8))
            out.string(Array(output.hashField.utf8))
        }
        let sources = inputSources.sorted()
        out.integer(UInt64(sources.count))
        for path in sources { out.string(Array(path.absolute(in: store).utf8)) }
        out.string(Array(platform.utf8))
        out.string(builder)
        out.integer(UInt64(args.count))
        for arg in args { out.string(arg) }
        out.integer(UInt64(env.count))
        for key in env.keys.sorted(by: Derivation.byteOrder) {
            out.string(key)
            out.string(env[key] ?? [])
        }
        return out.bytes
    }

    /// Reads the wire form starting at `offset` and moves `offset` past it.
    public init(wire bytes: UnsafeRawBufferPointer, offset: inout Int, store: StoreDirectory, rules: StorePathName.Rules = .nix, limits: ATermLimits = .default) throws(FormatError) {
        var reader = WireReader(bytes: bytes, position: offset, limits: limits)
        var outputs: [String: DerivationOutput] = [:]
        let outputCount = try reader.count(minimumElementSize: 32)
        guard outputCount > 0 else { throw .invalidDerivation(offset: reader.position - 8, reason: "a derivation needs at least one output") }
        for _ in 0..<outputCount {
            let nameStart = reader.position
            let name = try reader.string()
            guard !name.isEmpty, name.allSatisfy(StorePathName.isValidCharacter) else {
                throw .invalidDerivation(offset: nameStart, reason: "output name is not a valid store name")
            }
            let nameText = String(decoding: name, as: UTF8.self)
            guard outputs[nameText] == nil else { throw .invalidDerivation(offset: nameStart, reason: "duplicate output '\(nameText)'") }
            var starts = [0, 0, 0]
            var fields: [[UInt8]] = []
            for i in 0..<3 {
                starts[i] = reader.position
                fields.append(try reader.string())
            }
            do throws(OutputFieldError) {
                outputs[nameText] = try DerivationOutput.fromFields(path: fields[0], hashAlgo: fields[1], hash: fields[2], store: store, rules: rules)
            } catch {
                throw .invalidDerivation(offset: starts[error.field - 1], reason: error.reason)
            }
        }
        if outputs.values.contains(where: { if case .fixed = $0 { true } else { false } }) {
            guard outputs.count == 1, outputs["out"] != nil else {
                throw .invalidDerivation(offset: offset, reason: "a fixed-output derivation has exactly one output, named 'out'")
            }
        }
        var sources = Set<StorePath>()
        for _ in 0..<(try reader.count(minimumElementSize: 8)) {
            let start = reader.position
            let text = String(decoding: try reader.string(), as: UTF8.self)
            do {
                guard sources.insert(try StorePath(parsing: text, in: store, rules: rules)).inserted else {
                    throw FormatError.invalidDerivation(offset: start, reason: "duplicate input source")
                }
            } catch {
                throw .invalidDerivation(offset: start, reason: "\(error)")
            }
        }
        let platformStart = reader.position
        let platformBytes = try reader.string()
        guard let platform = String(validating: platformBytes, as: UTF8.self),
              !platformBytes.contains(where: { [0x22, 0x5C, 0x0A, 0x0D, 0x09].contains($0) }) else {
            throw .invalidDerivation(offset: platformStart, reason: "platform is not UTF-8 or holds a character that needs escaping")
        }
        let builder = try reader.string()
        var args: [[UInt8]] = []
        for _ in 0..<(try reader.count(minimumElementSize: 8)) { args.append(try reader.string()) }
        var env: [[UInt8]: [UInt8]] = [:]
        for _ in 0..<(try reader.count(minimumElementSize: 16)) {
            let keyStart = reader.position
            let key = try reader.string()
            guard env[key] == nil else { throw .invalidDerivation(offset: keyStart, reason: "duplicate env key") }
            env[key] = try reader.string()
        }
        offset = reader.position
        self.init(outputs: outputs, inputSources: sources, platform: platform, builder: builder, args: args, env: env)
    }

    /// Reads a buffer that holds exactly one wire derivation.
    public init(wire bytes: [UInt8], store: StoreDirectory, rules: StorePathName.Rules = .nix, limits: ATermLimits = .default) throws(FormatError) {
        let result: Result<Derivation, FormatError> = bytes.withUnsafeBytes { buffer in
            var offset = 0
            do throws(FormatError) {
                let derivation = try Derivation(wire: buffer, offset: &offset, store: store, rules: rules, limits: limits)
                guard offset == buffer.count else { throw .invalidDerivation(offset: offset, reason: "trailing bytes after the derivation") }
                return .success(derivation)
            } catch {
                return .failure(error)
            }
        }
        self = try result.get()
    }
}

/// §1.2 writer: u64 little-endian, padded strings.
struct WireBytes {
    var bytes: [UInt8] = []

    mutating func integer(_ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func string(_ s: [UInt8]) {
        integer(UInt64(s.count))
        bytes.append(contentsOf: s)
        bytes.append(contentsOf: repeatElement(0, count: (8 - s.count % 8) % 8))
    }
}

/// §1.2 reader over a buffer, with the limits of `ATermLimits`.
struct WireReader {
    let bytes: UnsafeRawBufferPointer
    var position: Int
    let limits: ATermLimits

    mutating func integer() throws(FormatError) -> UInt64 {
        guard bytes.count - position >= 8 else { throw .invalidDerivation(offset: position, reason: "unexpected end of input, expected a u64") }
        var value: UInt64 = 0
        for i in 0..<8 { value |= UInt64(bytes[position + i]) << (8 * UInt64(i)) }
        position += 8
        return value
    }

    /// A count of elements each at least `minimumElementSize` bytes: one that cannot fit in
    /// what is left is an error before anything is allocated.
    mutating func count(minimumElementSize: Int) throws(FormatError) -> Int {
        let start = position
        let value = try integer()
        guard value <= UInt64(limits.maxListElements) else {
            throw .invalidDerivation(offset: start, reason: "count \(value) over the limit of \(limits.maxListElements)")
        }
        guard Int(value) * minimumElementSize <= bytes.count - position else {
            throw .invalidDerivation(offset: start, reason: "count \(value) does not fit in the remaining \(bytes.count - position) bytes")
        }
        return Int(value)
    }

    mutating func string() throws(FormatError) -> [UInt8] {
        let start = position
        let length = try integer()
        guard length <= UInt64(limits.maxStringBytes) else {
            throw .invalidDerivation(offset: start, reason: "string of \(length) bytes over the limit of \(limits.maxStringBytes)")
        }
        let n = Int(length)
        let padded = n + (8 - n % 8) % 8
        guard bytes.count - position >= padded else { throw .invalidDerivation(offset: start, reason: "string runs past the end of input") }
        let value = Array(bytes[position..<position + n])
        for i in position + n..<position + padded where bytes[i] != 0 {
            throw .invalidDerivation(offset: i, reason: "non-zero padding")
        }
        position += padded
        return value
    }
}
