/// After a successful builder (guix-daemon.md §4.2): for each missing output, found inside the
/// chroot through directory fds (no symlink following): it must exist; the top level must not
/// be group/world-writable and, in pool mode, must belong to the build user, as must every file
/// below it (§4.3: LocalStore checks each before changing it; hard links among the outputs
/// allowed); it is canonicalised (LocalStore), a fixed output's hash is checked, then it is renamed into the
/// store (SEC-09: never visible before canonicalisation), its NAR hashed and scanned for
/// references (candidates: input closure + own outputs), checked against allowed/disallowed
/// references/requisites, deduplicated, and all outputs are registered in one transaction.
import StoreFormats
import LocalStore
import LinuxSystem

struct OutputRegistration {
    let plan: BuildPlan
    let store: SharedStore
    let buildUID: UInt32?
    let deduplicate: Bool
    /// Pool mode: the build user's files seen so far, shared by all outputs of the build.
    let ownership: BuildOwnership?
    /// `-K` (§4.9): a differing `--check` output, or the first of several `--rounds`, is kept
    /// (canonical, unregistered) at `P-check` for comparison.
    let keepForComparison: Bool

    init(plan: BuildPlan, store: SharedStore, buildUID: UInt32?, deduplicate: Bool, keepForComparison: Bool = false) {
        self.plan = plan
        self.store = store
        self.buildUID = buildUID
        self.deduplicate = deduplicate
        self.keepForComparison = keepForComparison
        ownership = buildUID.map { BuildOwnership(buildUID: $0) }
    }

    /// `P-check`: where `-K` keeps an output to compare with.
    static func checkName(_ path: StorePath) -> [UInt8] { Array((path.baseName + "-check").utf8) }

    var drvText: String { plan.derivationPath.absolute(in: plan.storeDirectory) }

    /// Registers `missing` (output name → path); returns the infos registered. On failure no
    /// output is left in the store.
    /// `outputsDirectory` is the host directory the builder saw as the store.
    /// With `previousRound` (`--rounds`), the outputs must match it or nothing is registered.
    func register(missing: [String: StorePath], outputsDirectory: String,
                  previousRound: [ValidPathInfo]? = nil) throws(BuildError) -> [ValidPathInfo] {
        let storeFD: FileDescriptor
        let inChroot: FileDescriptor
        do {
            storeFD = try FileDescriptor.open(plan.storeDirectory.path, [.readOnly, .directory])
            inChroot = try FileDescriptor.open(outputsDirectory, [.readOnly, .directory, .noFollow])
        } catch { throw .system(error) }

        var moved: [StorePath] = []
        do throws(BuildError) {
            let names = missing.keys.sorted(by: Derivation.byteOrder)
            for name in names {
                guard let path = missing[name] else { continue }
                try prepare(path, in: inChroot)
                try checkFixedOutput(path, outputsDirectory: outputsDirectory)
                if outputsDirectory == plan.storeDirectory.path {
                    // --disable-chroot: already in place.
                } else if plan.fixedOutput {
                    try moveFreshCopyIntoStore(path, outputsDirectory: outputsDirectory, storeFD: storeFD)
                } else {
                    try moveIntoStore(path, from: inChroot, storeFD: storeFD)
                }
                moved.append(path)
            }
            var infos: [ValidPathInfo] = []
            for path in moved { infos.append(try info(path, at: path.absolute(in: plan.storeDirectory))) }
            try compareRound(infos, with: previousRound)
            try ReferenceConstraints(plan: plan, store: store).check(infos)
            if deduplicate {
                for path in moved { try store.query { try $0.deduplicate(path) } }
            }
            try store.query { try $0.registerValidPaths(infos) }
            return infos
        } catch {
            for path in moved { try? storeFD.removeTree(at: Array(path.baseName.utf8)) }
            throw error
        }
    }

    /// A round before the last (`--rounds`, §4.9): each output checked and canonicalised where
    /// the builder left it, then hashed and scanned; nothing is registered. `keep` (the first
    /// round, with -K) moves each to `P-check`.
    func inspect(missing: [String: StorePath], outputsDirectory: String, keep: Bool = false) throws(BuildError) -> [ValidPathInfo] {
        let inChroot: FileDescriptor
        let storeFD: FileDescriptor
        do {
            inChroot = try FileDescriptor.open(outputsDirectory, [.readOnly, .directory, .noFollow])
            storeFD = try FileDescriptor.open(plan.storeDirectory.path, [.readOnly, .directory])
        } catch { throw .system(error) }
        var infos: [ValidPathInfo] = []
        for path in missing.values.sorted() {
            try prepare(path, in: inChroot)
            infos.append(try info(path, at: outputsDirectory + "/" + path.baseName))
            if keep { try moveIntoStore(path, from: inChroot, storeFD: storeFD, as: Self.checkName(path)) }
        }
        return infos
    }

    /// §4.9: this round's outputs against the previous round's, by path, NAR hash and references.
    func compareRound(_ infos: [ValidPathInfo], with previous: [ValidPathInfo]?) throws(BuildError) {
        guard let previous else { return }
        for info in infos.sorted(by: { $0.path < $1.path }) {
            let before = previous.first { $0.path == info.path }
            if before?.narHash != info.narHash || before?.references != info.references {
                let absolute = info.path.absolute(in: plan.storeDirectory)
                let kept = keepForComparison && (try? HostPath.status(absolute + "-check")) != nil
                throw .notDeterministic("output ‘\(absolute)’ of ‘\(drvText)’ differs from "
                                        + (kept ? "‘\(absolute)-check’ from previous round" : "previous round"))
            }
        }
    }

    /// NAR hash, size and references (candidates: input closure + own outputs) of `path`,
    /// read at `location`.
    private func info(_ path: StorePath, at location: String) throws(BuildError) -> ValidPathInfo {
        let candidates = plan.inputClosure.union(plan.outputs.values)
        let byHashPart = Dictionary(candidates.map { ($0.hashPart, $0) }, uniquingKeysWith: { a, _ in a })
        let scanner: ReferenceScanner
        do { scanner = try ReferenceScanner(hashParts: byHashPart.keys.sorted()) } catch { throw .format(error) }
        let result: (sink: TeeSink<Hasher, ReferenceScanner>, size: UInt64)
        do { result = try NARDumper.dump(path: location, to: TeeSink(Hasher(.sha256), scanner)) }
        catch { throw .buildFailed("cannot read output `\(path.absolute(in: plan.storeDirectory))': \(error)") }
        let references = Set(result.sink.second.found.compactMap { byHashPart[$0] })
        return ValidPathInfo(path: path, narHash: result.sink.first.finish(), references: references,
                             deriver: plan.derivationPath, narSize: result.size)
    }

    /// `--check` (§4.9): each rebuilt output, canonicalised inside the chroot, must have the
    /// NAR hash the database has for it. Nothing is moved or registered.
    func compare(outputsDirectory: String) throws(BuildError) {
        let inChroot: FileDescriptor
        do { inChroot = try FileDescriptor.open(outputsDirectory, [.readOnly, .directory, .noFollow]) }
        catch { throw .system(error) }
        for name in plan.outputs.keys.sorted(by: Derivation.byteOrder) {
            guard let path = plan.outputs[name] else { continue }
            try prepare(path, in: inChroot)
            let absolute = path.absolute(in: plan.storeDirectory)
            let rebuilt: Hash
            do { rebuilt = try NARDumper.hash(path: outputsDirectory + "/" + path.baseName).hash } catch {
                throw .buildFailed("cannot read output `\(absolute)': \(error)")
            }
            let recorded = try store.query { try $0.queryPathInfo(path) }?.narHash
            if recorded != rebuilt {
                guard keepForComparison else {
                    throw .notDeterministic("derivation `\(drvText)' may not be deterministic: output `\(absolute)' differs")
                }
                let storeFD: FileDescriptor
                do { storeFD = try FileDescriptor.open(plan.storeDirectory.path, [.readOnly, .directory]) } catch { throw .system(error) }
                try moveIntoStore(path, from: inChroot, storeFD: storeFD, as: Self.checkName(path))
                throw .notDeterministic("derivation `\(drvText)' may not be deterministic: output `\(absolute)' differs from `\(absolute)-check'")
            }
        }
    }

    /// Existence, top-level permission/ownership, canonicalisation.
    private func prepare(_ path: StorePath, in directory: FileDescriptor) throws(BuildError) {
        let absolute = path.absolute(in: plan.storeDirectory)
        let name = Array(path.baseName.utf8)
        let status: FileStatus
        do { status = try directory.status(at: name) } catch {
            if error.errno == .noSuchFile { throw .buildFailed("builder for `\(drvText)' failed to produce output path `\(absolute)'") }
            throw .system(error)
        }
        if status.type != .symlink {
            let badOwner = buildUID.map { status.owner != $0 } ?? false
            if status.permissions & 0o022 != 0 || badOwner {
                throw .outputRejected("suspicious ownership or permission on `\(absolute)'; rejecting this build output")
            }
        }
        do { try store.query { try $0.canonicaliseNewObject(in: directory, name: name, displayPath: absolute, ownership: ownership) } }
        catch { throw .outputRejected("\(error)") }
    }

    /// §1.9: flat outputs must be a non-executable regular file; the hash must match.
    private func checkFixedOutput(_ path: StorePath, outputsDirectory: String) throws(BuildError) {
        guard let fixed = plan.derivation.fixedOutput, fixed.path == path else { return }
        let absolute = path.absolute(in: plan.storeDirectory)
        let inChroot = outputsDirectory + "/" + path.baseName
        let actual: Hash
        do {
            switch fixed.method {
            case .recursive:
                actual = try NARDumper.hash(path: inChroot, algorithm: fixed.hash.algorithm).hash
            default:
                let fd = try FileDescriptor.open(inChroot, [.readOnly, .noFollow])
                let status = try fd.status()
                guard status.type == .regular, !status.isOwnerExecutable else {
                    throw BuildError.buildFailed("output path `\(absolute)' should be a non-executable regular file")
                }
                let hasher = Hasher(fixed.hash.algorithm)
                hasher.update(try fd.readAll())
                actual = hasher.finish()
            }
        } catch let error as BuildError { throw error } catch { throw .buildFailed("cannot hash `\(absolute)': \(error)") }
        guard actual == fixed.hash else {
            throw .hashMismatch(path: absolute, algorithm: fixed.hash.algorithm.rawValue,
                                expected: fixed.hash.nix32, actual: actual.nix32)
        }
    }

    /// Fixed outputs (SEC-04, CVE-2024-27297; SEC-17): the network lets a builder hand an fd
    /// on its output to an outside process, so what is registered is a fresh copy, restored
    /// from the NAR into a daemon-private 0700 directory in the store (exclusive creation, no
    /// symlink following), canonicalised again, then renamed into place.
    private func moveFreshCopyIntoStore(_ path: StorePath, outputsDirectory: String, storeFD: FileDescriptor) throws(BuildError) {
        let absolute = path.absolute(in: plan.storeDirectory)
        let privateName = ".tmp-fixed-\(ProcessIdentity.processID)-\(path.hashPart)"
        let name = Array(path.baseName.utf8)
        do {
            try storeFD.removeTree(at: Array(privateName.utf8))
            try storeFD.makeDirectory(at: Array(privateName.utf8), mode: 0o700)
            defer { try? storeFD.removeTree(at: Array(privateName.utf8)) }
            let privateFD = try storeFD.openDirectory(at: privateName)
            var restorer = NARRestorer(in: privateFD, name: name)
            try NARDumper.dump(path: outputsDirectory + "/" + path.baseName, into: &restorer)
            try store.query { try $0.canonicaliseNewObject(in: privateFD, name: name, displayPath: absolute) }
            try moveIntoStore(path, from: privateFD, storeFD: storeFD)
        } catch let error as BuildError { throw error } catch {
            throw .buildFailed("cannot copy fixed output `\(absolute)': \(error)")
        }
    }

    /// rename(2) into the store; a directory needs its write bit for the rename (its `..`
    /// changes), then gets mode 0555 and mtime 1 back.
    /// `target` (a `P-check` name) replaces whatever is there; the output path itself never.
    private func moveIntoStore(_ path: StorePath, from directory: FileDescriptor, storeFD: FileDescriptor,
                               as target: [UInt8]? = nil) throws(BuildError) {
        let name = Array(path.baseName.utf8)
        let destination = target ?? name
        do {
            if target != nil { try storeFD.removeTree(at: destination) }
            let status = try directory.status(at: name)
            if status.type == .directory { try directory.changeMode(at: name, 0o755) }
            try directory.renameNoReplace(at: name, to: storeFD, destination)
            if status.type == .directory {
                try storeFD.changeMode(at: destination, 0o555)
                try storeFD.setModificationTime(at: destination, 1)
            }
        } catch { throw .system(error) }
    }
}
