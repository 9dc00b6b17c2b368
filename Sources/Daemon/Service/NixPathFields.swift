/// The path-info fields Nix clients get and Guix's schema-7 database has no column for
/// (formats.md §2, §6.5): `ca`, `ultimate` and `sigs`.
///
/// - `ca` is recomputed, not stored: a content address is a checkable fact, so a path gets the
///   one that reproduces its store path — `fixed:r:sha256` from the NAR hash (no I/O), and for
///   objects of at most `contentAddressProbeLimit` NAR bytes `text:sha256`, flat
///   `fixed:<algo>` and recursive `fixed:r:<algo>` for sha1/sha512/md5. Nix 2.8 stores what the
///   adder claimed, and an import claims nothing, so such a path, imported, shows `""` there:
///   imports mark it (`recordImportWithoutClaim`, LocalStore's `.no-ca`) and it shows `""` here.
/// - `ultimate` (Nix: "built locally") is true for an input-addressed path that is a recorded
///   output of its valid deriver.
/// - `sigs` are LocalStore's (`<state>/signatures/<base name>`, removed with the path; a deleted
///   and re-added path starts unsigned, as in Nix).
import StoreFormats
import WorkerProtocol
import LocalStore
import LinuxSystem

extension LocalStoreService {
    static let contentAddressProbeLimit: UInt64 = 256 << 10

    func addNixFields(_ record: inout PathInfoRecord, _ info: ValidPathInfo) throws {
        let kept = store.nixFields(of: info)
        record.contentAddress = kept.noContentAddressClaim ? nil : cachedContentAddress(of: info)
        if record.contentAddress == nil, let deriver = info.deriver {
            record.ultimate = (try? store.queryValidDerivers(info.path).contains(deriver)) ?? false
        }
        record.signatures = kept.signatures
    }

    /// `contentAddress(of:)` remembered for the session: a valid path's contents never change
    /// while it stays registered (same NAR hash and registration time), and probing a text or
    /// flat object reads and hashes it — per request, clients ask for the same path again and
    /// again. Bounded: the memo is dropped when it reaches `contentAddressMemoLimit` entries.
    func cachedContentAddress(of info: ValidPathInfo) -> String? {
        // The common case needs no I/O and costs less than the memo itself.
        if let ca = recursiveSHA256Address(of: info) { return ca }
        if let known = contentAddressMemo[info.path], known.narHash == info.narHash, known.registrationTime == info.registrationTime {
            return known.contentAddress
        }
        let computed = contentAddress(of: info)
        if contentAddressMemo.count >= Self.contentAddressMemoLimit { contentAddressMemo.removeAll(keepingCapacity: true) }
        contentAddressMemo[info.path] = ContentAddressMemo(narHash: info.narHash, registrationTime: info.registrationTime, contentAddress: computed)
        return computed
    }
    static let contentAddressMemoLimit = 4096

    /// `fixed:r:sha256:<NAR hash>` if that is the address that makes the path (no I/O).
    func recursiveSHA256Address(of info: ValidPathInfo) -> String? {
        guard info.narHash.algorithm == .sha256 else { return nil }
        var others: [StorePath] = []
        if !info.references.isEmpty {
            others.reserveCapacity(info.references.count)
            for reference in info.references where reference != info.path { others.append(reference) }
        }
        // Compared with the hash part as is: no StorePath is built for the candidate (the
        // fingerprint puts the references in order).
        guard store.storeDirectory.isFixedOutputPath(info.path, method: .recursive, hash: info.narHash, references: others,
                                                     hasSelfReference: others.count != info.references.count) else { return nil }
        return ContentAddress.fixed(.recursive, info.narHash).description
    }

    /// The address that reproduces the path, probing its contents for the other kinds (the
    /// recursive SHA-256 one is `recursiveSHA256Address`, tried first by the caller).
    func contentAddress(of info: ValidPathInfo) -> String? {
        let path = info.path
        let store = self.store.storeDirectory
        let others = info.references.filter { $0 != path }.sorted()
        let selfReference = others.count != info.references.count
        func fixed(_ method: IngestionMethod, _ hash: Hash) -> String? {
            // Compared with the hash part as is: no StorePath is built for the candidate.
            guard store.isFixedOutputPath(path, method: method, hash: hash, references: others, hasSelfReference: selfReference) else { return nil }
            return ContentAddress.fixed(method, hash).description
        }
        guard info.narSize <= Self.contentAddressProbeLimit else { return nil }
        let absolute = self.store.layout.absolute(path)
        if let status = try? HostPath.status(absolute), status.type == .regular,
           let contents = try? FileDescriptor.open(absolute, [.readOnly, .noFollow]).readAll() {
            let sha256 = Hasher.hash(.sha256, contents)
            if !selfReference, let made = try? store.makeTextPath(name: path.name, contentHash: sha256, references: others), made == path {
                return "text:sha256:\(sha256.nix32)"
            }
            if let ca = fixed(.flat, sha256) { return ca }
            for algorithm in [HashAlgorithm.sha1, .sha512, .md5] {
                if let ca = fixed(.flat, Hasher.hash(algorithm, contents)) { return ca }
            }
        }
        for algorithm in [HashAlgorithm.sha1, .sha512, .md5] {
            guard let dumped = try? NARDumper.dump(path: absolute, to: Hasher(algorithm)) else { return nil }
            if let ca = fixed(.recursive, dumped.sink.finish()) { return ca }
        }
        return nil
    }

    /// After an import that registered `path` (it was not valid before): if its name is
    /// content-addressed, mark that no claim came with it (see `ca` above). Best effort: a
    /// marker that cannot be written leaves the recomputed address showing.
    func recordImportWithoutClaim(_ path: StorePath, wasValid: Bool) {
        guard !wasValid, let info = try? store.queryPathInfo(path), cachedContentAddress(of: info) != nil else { return }
        try? store.recordNoContentAddressClaim(info)
    }

    /// AddSignatures (op 37, Nix only: Guix has no such operation): merges into the set.
    public func addSignatures(_ path: StorePath, _ new: [String]) throws {
        guard let info = try store.queryPathInfo(path) else { throw StoreServiceError(.invalidPath(context.render(path))) }
        try store.addSignatures(new, to: info)
    }
}
