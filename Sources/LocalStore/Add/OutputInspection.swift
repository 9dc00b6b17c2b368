/// Operations on an unregistered object already at its store path (guix-daemon.md §4.2):
/// canonicalise it in place, hash its NAR while scanning it for references (§4.4, one pass),
/// or clear it away (an invalid leftover before a build). See BuildOutputs.swift for the
/// fd-relative entry points the Builder uses.
import StoreFormats
import LinuxSystem

extension LocalStore {
    /// Canonicalises the store path `path` in place (§4.3). It must not be valid yet.
    public func canonicalisePathMetaData(_ path: StorePath) throws(LocalStoreError) {
        try Canonicaliser.canonicalise(in: storeFD, name: Array(path.baseName.utf8), displayPath: absolute(path))
    }

    /// SHA-256 and size of the NAR of `path` as it is on disk now.
    public func computeNARHash(_ path: StorePath) throws(LocalStoreError) -> (hash: Hash, size: UInt64) {
        do { return try StoreObjectDumper.narHash(in: storeFD, name: Array(path.baseName.utf8)) }
        catch { throw Self.addError(error, name: path.name) }
    }

    /// scanForReferences: which of `candidates` (by hash part) occur in the NAR of `path`,
    /// together with its NAR hash and size, in one streaming pass.
    public func scanForReferences(_ path: StorePath, candidates: Set<StorePath>) throws(LocalStoreError)
        -> (references: Set<StorePath>, narHash: Hash, narSize: UInt64) {
        var byHashPart: [String: StorePath] = [:]
        for c in candidates { byHashPart[c.hashPart] = c }
        do {
            let scanner = try ReferenceScanner(hashParts: byHashPart.keys)
            var writer = NARWriter(sink: TeeSink(Hasher(.sha256), scanner))
            try StoreObjectDumper.dump(in: storeFD, name: Array(path.baseName.utf8), into: &writer)
            try writer.flush()
            let refs = Set(scanner.found.compactMap { byHashPart[$0] })
            return (refs, writer.sink.first.finish(), writer.bytesWritten)
        } catch { throw Self.addError(error, name: path.name) }
    }

    /// Removes whatever is at `path` in the store (a failed build's output, an interrupted
    /// add), through the trash and directory fds. Refuses a valid path.
    public func deleteInvalidPath(_ path: StorePath) throws(LocalStoreError) {
        guard try !isValidPath(path) else { throw .pathStillAlive(absolute(path)) }
        let trash: FileDescriptor
        do {
            do { try storeFD.makeDirectory(at: Array("trash".utf8), mode: 0o700) } catch where error.errno == .fileExists {}
            trash = try storeFD.openDirectory(at: Array("trash".utf8))
        } catch { throw .system(error) }
        _ = try deleteStoreEntry(Array(path.baseName.utf8), trash: trash)
    }
}
