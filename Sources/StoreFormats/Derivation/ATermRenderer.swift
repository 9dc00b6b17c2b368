/// The ATerm writer for `.drv` files (formats.md §4.1–§4.3): one line, no whitespace, sets and
/// maps in byte order. Escaping follows Nix 2.8 (§4.2): builder, args and env keys/values are
/// escaped (`"` `\` LF CR TAB); output names, paths, hash fields, input paths and the platform
/// are written raw. Guix escapes a slightly different set of fields (not system and builder).
/// The fields Nix writes raw never hold a byte that needs escaping in a parsed derivation
/// (store paths, store names, hash fields, a platform checked by the parser), so raw and
/// escaped give the same bytes; names and platform go through the escaper anyway so that a
/// hand-built value can never produce a file that does not parse back.
extension Derivation {
    /// The `.drv` file contents, with store paths in `store`.
    public func render(in store: StoreDirectory) -> [UInt8] {
        let inputs = inputDerivations
            .map { (key: Array($0.key.absolute(in: store).utf8), outputs: $0.value) }
            .sorted { $0.key.lexicographicallyPrecedes($1.key) }
        return render(in: store, inputs: inputs, maskOutputs: false)
    }

    /// The ATerm with the input-derivation list replaced by `inputs` (already keyed and sorted)
    /// and, when `maskOutputs`, output paths and output env variables blanked: the preimages
    /// of hashDerivationModulo (§4.5).
    func render(in store: StoreDirectory, inputs: [(key: [UInt8], outputs: Set<String>)], maskOutputs: Bool) -> [UInt8] {
        var out = ATermWriter()
        out.reserve(estimatedSize)
        out.raw("Derive([")
        for (index, name) in sortedOutputNames.enumerated() {
            guard let output = outputs[name] else { continue }
            if index > 0 { out.byte(UInt8(ascii: ",")) }
            out.raw("(")
            out.escapedString(Array(name.utf8))
            out.byte(UInt8(ascii: ","))
            out.rawString(maskOutputs ? "" : output.path.map { $0.absolute(in: store) } ?? "")
            out.byte(UInt8(ascii: ","))
            out.rawString(output.hashAlgoField)
            out.byte(UInt8(ascii: ","))
            out.rawString(output.hashField)
            out.raw(")")
        }
        out.raw("],[")
        for (index, input) in inputs.enumerated() {
            if index > 0 { out.byte(UInt8(ascii: ",")) }
            out.raw("(")
            out.rawString(input.key)
            out.raw(",[")
            for (n, name) in input.outputs.sorted(by: Derivation.byteOrder).enumerated() {
                if n > 0 { out.byte(UInt8(ascii: ",")) }
                out.escapedString(Array(name.utf8))
            }
            out.raw("])")
        }
        out.raw("],[")
        for (index, path) in inputSources.sorted().enumerated() {
            if index > 0 { out.byte(UInt8(ascii: ",")) }
            out.rawString(path.absolute(in: store))
        }
        out.raw("],")
        out.escapedString(Array(platform.utf8))
        out.byte(UInt8(ascii: ","))
        out.escapedString(builder)
        out.raw(",[")
        for (index, arg) in args.enumerated() {
            if index > 0 { out.byte(UInt8(ascii: ",")) }
            out.escapedString(arg)
        }
        out.raw("],[")
        let masked: Set<[UInt8]> = maskOutputs ? Set(outputs.keys.map { Array($0.utf8) }) : []
        for (index, key) in env.keys.sorted(by: Derivation.byteOrder).enumerated() {
            if index > 0 { out.byte(UInt8(ascii: ",")) }
            out.raw("(")
            out.escapedString(key)
            out.byte(UInt8(ascii: ","))
            out.escapedString(masked.contains(key) ? [] : env[key] ?? [])
            out.raw(")")
        }
        out.raw("])")
        return out.bytes
    }

    private var estimatedSize: Int {
        var size = 64 + builder.count + platform.utf8.count
        size += outputs.count * 100 + inputDerivations.count * 100 + inputSources.count * 80
        for arg in args { size += arg.count + 3 }
        for (key, value) in env { size += key.count + value.count + 6 }
        return size
    }
}

/// Accumulates ATerm bytes.
struct ATermWriter {
    var bytes: [UInt8] = []

    mutating func reserve(_ count: Int) { bytes.reserveCapacity(count) }
    mutating func byte(_ b: UInt8) { bytes.append(b) }
    mutating func raw(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    mutating func rawString(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: text.utf8)
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func rawString(_ text: [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: text)
        bytes.append(UInt8(ascii: "\""))
    }

    /// `"` `\` LF CR TAB become two-byte escapes; every other byte is copied (§4.2).
    mutating func escapedString(_ text: [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        // Copy runs of ordinary bytes in one go; only the five special bytes are rewritten.
        var runStart = 0
        for (i, b) in text.enumerated() where b <= 0x22 || b == 0x5C {
            let escape: UInt8
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): escape = b
            case 0x0A: escape = UInt8(ascii: "n")
            case 0x0D: escape = UInt8(ascii: "r")
            case 0x09: escape = UInt8(ascii: "t")
            default: continue
            }
            bytes.append(contentsOf: text[runStart..<i])
            bytes.append(UInt8(ascii: "\\"))
            bytes.append(escape)
            runStart = i + 1
        }
        bytes.append(contentsOf: text[runStart...])
        bytes.append(UInt8(ascii: "\""))
    }
}
