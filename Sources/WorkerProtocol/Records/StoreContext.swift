import StoreFormats

/// What decoding store paths needs: the store directory they must lie directly under and the
/// name rules of the dialect (formats.md §2.1: Nix accepts a leading dot, Guix does not).
public struct StoreContext: Hashable, Sendable {
    public let storeDirectory: StoreDirectory
    public let rules: StorePathName.Rules

    public init(storeDirectory: StoreDirectory, rules: StorePathName.Rules) {
        self.storeDirectory = storeDirectory
        self.rules = rules
    }

    public static let nix = StoreContext(storeDirectory: .nix, rules: .nix)
    public static let guix = StoreContext(storeDirectory: .guix, rules: .guix)

    public func parse(_ text: String) throws(WorkerProtocolError) -> StorePath {
        do { return try StorePath(parsing: text, in: storeDirectory, rules: rules) } catch {
            throw .format(error)
        }
    }

    public func render(_ path: StorePath) -> String { path.absolute(in: storeDirectory) }
}

extension WireReader {
    public func readStorePath(_ context: StoreContext, _ field: String = "store path") throws(WorkerProtocolError) -> StorePath {
        // The common case straight from the buffer (no String of the path); anything else the
        // long way, which reports what is wrong.
        if let path = readBuffered(limit: limits.shortString, { StorePath.validAbsolute($0, in: context.storeDirectory, rules: context.rules) }) {
            return path
        }
        return try context.parse(try readShortString(field))
    }

    /// An optional store path: `""` means absent.
    public func readOptionalStorePath(_ context: StoreContext, _ field: String = "store path") throws(WorkerProtocolError) -> StorePath? {
        let text = try readShortString(field)
        return text.isEmpty ? nil : try context.parse(text)
    }

    public func readStorePaths(_ context: StoreContext, _ field: String = "store paths") throws(WorkerProtocolError) -> [StorePath] {
        let count = try readCount(field, limit: limits.pathCount)
        var out: [StorePath] = []
        out.reserveCapacity(min(count, 1024))
        for _ in 0..<count { out.append(try readStorePath(context, field)) }
        return out
    }
}

extension WireWriter {
    public func writeStorePath(_ path: StorePath, _ context: StoreContext) throws(WorkerProtocolError) {
        // `context.render(path)`, written piece by piece.
        try writeStorePathText(context.storeDirectory.path, path.hashPart, path.name)
    }

    public func writeOptionalStorePath(_ path: StorePath?, _ context: StoreContext) throws(WorkerProtocolError) {
        if let path { try writeStorePath(path, context) } else { try writeString("") }
    }

    /// Store paths in the order given (lists) — callers sort sets first.
    public func writeStorePaths(_ paths: [StorePath], _ context: StoreContext) throws(WorkerProtocolError) {
        try writeU64(UInt64(paths.count))
        for p in paths { try writeStorePath(p, context) }
    }

    /// A set of store paths, sorted as C++ `std::set<StorePath>` iterates.
    public func writeStorePathSet(_ paths: [StorePath], _ context: StoreContext) throws(WorkerProtocolError) {
        try writeStorePaths(paths.sorted(), context)
    }
}
