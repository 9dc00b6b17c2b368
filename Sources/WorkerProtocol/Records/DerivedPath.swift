import StoreFormats

/// What a build request names (formats.md §6.5): a store path to make valid, or outputs of a
/// derivation. Text form (Nix >= 30): `path`, `drv!out1,out2` (sorted) or `drv!*`. Before 30,
/// and in Guix, items are `path` or `drv!out[,out...]`; the same parser reads both.
public enum DerivedPath: Hashable, Sendable {
    case opaque(StorePath)
    case built(derivation: StorePath, outputs: OutputsSpec)

    public enum OutputsSpec: Hashable, Sendable {
        case all
        case names([String])
    }

    public init(parsing text: String, _ context: StoreContext) throws(WorkerProtocolError) {
        guard let bang = text.firstIndex(of: "!") else {
            self = .opaque(try context.parse(text))
            return
        }
        let drv = try context.parse(String(text[..<bang]))
        let spec = text[text.index(after: bang)...]
        if spec == "*" {
            self = .built(derivation: drv, outputs: .all)
            return
        }
        let names = spec.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        for name in names where name.isEmpty || name.utf8.contains(where: { !StorePathName.isValidCharacter($0) }) {
            throw .invalidValue(field: "derived path", text: text, reason: "invalid output name '\(name)'")
        }
        self = .built(derivation: drv, outputs: .names(names))
    }

    public func render(_ context: StoreContext) -> String {
        switch self {
        case .opaque(let path): return context.render(path)
        case .built(let drv, .all): return context.render(drv) + "!*"
        case .built(let drv, .names(let names)):
            return context.render(drv) + "!" + names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }.joined(separator: ",")
        }
    }
}

extension WireReader {
    public func readDerivedPaths(_ context: StoreContext) throws(WorkerProtocolError) -> [DerivedPath] {
        try readStrings("derived paths").map { (text: String) throws(WorkerProtocolError) in try DerivedPath(parsing: text, context) }
    }
}

extension WireWriter {
    public func writeDerivedPaths(_ paths: [DerivedPath], _ context: StoreContext) throws(WorkerProtocolError) {
        try writeStrings(paths.map { $0.render(context) })
    }
}
