/// The crash-safety worker (run by CrashSafetyTests as a child process of this same binary,
/// enabled only by `CLOISTER_CRASH_WORKER=<store root>`): opens the store and performs random
/// operations forever — text objects with references, recursive NARs (small and large files,
/// executables, symlinks, shared contents for deduplication), flat files, imports with known
/// info, derivations, GC roots, collections (full, bounded, specific), optimisation — writing one
/// progress byte to fd 3 after each, until the parent kills it.
///
/// Text objects record their references in their first lines so the parent can check that what
/// is registered is exactly what was meant (StoreInvariants.checkDeclaredReferences).
import Testing
import Glibc
import StoreFormats
import LinuxSystem
@testable import LocalStore

@Suite(.tags(.large)) struct CrashSafetyWorker {
    @Test(.enabled(if: environmentValue("CLOISTER_CRASH_WORKER") != nil))
    func run() throws {
        let root = try #require(environmentValue("CLOISTER_CRASH_WORKER"))
        let seed = UInt64(environmentValue("CLOISTER_CRASH_SEED") ?? "1") ?? 1
        var random = SeededGenerator(seed: seed)
        var configuration = try StoreConfiguration(environment: CrashStore.environment(root))
        configuration.reservedSpace = 0
        configuration.deduplicate = random.next() % 4 != 0
        let store = try LocalStore(configuration: configuration)
        var worker = CrashOperations(store: store, root: root, random: random)
        reportProgress()  // the store is open
        while true {
            try worker.step()
            reportProgress()
        }
    }
}

enum CrashStore {
    static func environment(_ root: String) -> [String: String] {
        ["NIX_STORE_DIR": root + "/store", "GUIX_STATE_DIRECTORY": root + "/state",
         "GUIX_LOG_DIRECTORY": root + "/log", "GUIX_CONFIGURATION_DIRECTORY": root + "/etc"]
    }
}

struct CrashOperations {
    let store: LocalStore
    let root: String
    var random: SeededGenerator
    /// Contents shared between objects, so deduplication links them (≥ 8 KiB).
    let sharedContents: [[UInt8]]

    init(store: LocalStore, root: String, random: SeededGenerator) {
        self.store = store
        self.root = root
        self.random = random
        sharedContents = (0..<4).map { i in [UInt8](repeating: UInt8(0x41 + i), count: 8192 + i * 4096) }
    }

    mutating func pick(_ n: Int) -> Int { Int(random.next() % UInt64(n)) }

    /// Up to `max` valid paths, each made a temp root first, as a client does before using a
    /// path (another worker may be collecting at the same time).
    mutating func someValidPaths(_ max: Int) throws -> Set<StorePath> {
        let all = try store.queryAllValidPaths()
        guard !all.isEmpty else { return [] }
        let chosen = Set((0..<pick(max + 1)).map { _ in all[pick(all.count)] })
        for path in chosen { try store.addTempRoot(path) }
        return chosen
    }

    mutating func step() throws {
        do { try operation() } catch LocalStoreError.invalidPath {
            // A reference was collected by the other worker before our temp root: refused, as
            // it must be. Anything else is a failure of the worker.
        }
    }

    mutating func operation() throws {
        switch pick(100) {
        case 0..<28: try addText()
        case 28..<50: try addTree()
        case 50..<62: try addFlat()
        case 62..<70: try importWithInfo()
        case 70..<76: try addDerivation()
        case 76..<84: try changeRoots()
        case 84..<92:
            let maxFreed: UInt64 = pick(3) == 0 ? UInt64(pick(50_000)) : .max
            _ = try store.collectGarbage(GCOptions(action: .deleteDead, maxFreed: maxFreed))
        case 92..<96:
            guard let victim = try someValidPaths(1).first else { return }
            do { _ = try store.collectGarbage(GCOptions(action: .deleteSpecific([victim]))) }
            catch LocalStoreError.pathStillAlive {}
        default:
            _ = try store.optimiseStore()
        }
    }

    mutating func addText() throws {
        let refs = try someValidPaths(3)
        let listed = refs.map { $0.absolute(in: store.storeDirectory) }.sorted()
        let body = "refs\n" + listed.map { $0 + "\n" }.joined() + "--\n" + Base16.encode(random.bytes(pick(4000)))
        _ = try store.addTextToStore(name: "t-\(random.next() % 100_000)", contents: Array(body.utf8), references: refs)
    }

    mutating func fileContents() -> [UInt8] {
        switch pick(10) {
        case 0..<4: return random.bytes(pick(200))
        case 4..<7: return sharedContents[pick(sharedContents.count)]
        case 7..<9: return random.bytes(8192 + pick(60_000))
        default: return random.bytes(256 * 1024 + pick(768 * 1024))  // long writes to land in
        }
    }

    mutating func writeTree(_ w: inout NARWriter<[UInt8]>, depth: Int) throws {
        try w.beginDirectory()
        let names = Set((0..<(1 + pick(4))).map { _ in "e\(pick(20))" }).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        for name in names {
            try w.beginEntry(name: Array(name.utf8))
            switch pick(depth < 3 ? 6 : 4) {
            case 0: try w.symlink(target: Array((pick(2) == 0 ? "../\(name)" : "/nonexistent/\(name)").utf8))
            case 1..<4:
                let contents = fileContents()
                try w.beginRegularFile(executable: pick(3) == 0, size: UInt64(contents.count))
                try contents.withUnsafeBytes { try w.contents($0) }
                try w.endRegularFile()
            default: try writeTree(&w, depth: depth + 1)
            }
            try w.endEntry()
        }
        try w.endDirectory()
    }

    mutating func addTree() throws {
        var w = NARWriter(sink: [UInt8]())
        try writeTree(&w, depth: 0)
        let algorithm: HashAlgorithm = [.sha256, .sha256, .sha1, .sha512][pick(4)]
        let refs = algorithm == .sha256 ? try someValidPaths(2) : []
        _ = try store.addToStore(nar: ByteArraySource(w.sink), name: "n-\(random.next() % 100_000)", method: .recursive,
                                 hashAlgorithm: algorithm, references: refs)
    }

    mutating func addFlat() throws {
        let contents = fileContents()
        _ = try store.addToStore(nar: ByteArraySource(NAR.regularFile(contents)), name: "f-\(random.next() % 100_000)", method: .flat)
    }

    mutating func importWithInfo() throws {
        var w = NARWriter(sink: [UInt8]())
        try writeTree(&w, depth: 1)
        let nar = w.sink
        let path = try StorePath(digest: random.bytes(20), name: "i-import")
        let info = ValidPathInfo(path: path, narHash: Hasher.hash(.sha256, nar), references: try someValidPaths(2), narSize: UInt64(nar.count))
        try store.addToStore(info: info, nar: ByteArraySource(nar))
    }

    /// A derivation with its real output path (the store checks it on registration).
    mutating func addDerivation() throws {
        let name = "d-\(random.next() % 100_000)"
        let placeholder = try StorePath(digest: random.bytes(20), name: name).absolute(in: store.storeDirectory)
        let text = "Derive([(\"out\",\"\(placeholder)\",\"\",\"\")],[],[],\"x86_64-linux\",\"/bin/sh\",[\"-c\",\"\(random.next())\"],[(\"out\",\"\(placeholder)\")])"
        let directory = store.storeDirectory
        var derivation = try Derivation(aterm: Array(text.utf8), store: directory, rules: .nix)
        var hasher = DerivationHasher(store: directory) { (input: StorePath) throws(FormatError) -> Derivation in
            throw .invalidStorePath(input.baseName, reason: "no input derivations here")
        }
        try derivation.fillInOutputPaths(name: name, hasher: &hasher)
        _ = try store.addTextToStore(name: name + ".drv", contents: derivation.render(in: directory))
    }

    /// Keeps about ten roots: add one to a random valid path, or drop one.
    mutating func changeRoots() throws {
        let dir = store.layout.gcRootsDirectory
        let roots = listDirectory(dir).filter { $0.hasPrefix("r-") }
        if roots.count > 10 || (pick(3) == 0 && !roots.isEmpty) {
            unlink(dir + "/" + roots[pick(roots.count)])
        } else if let target = try someValidPaths(1).first {
            let link = dir + "/r-\(random.next() % 100_000)"
            unlink(link + ".tmp")
            symlink(target.absolute(in: store.storeDirectory), link + ".tmp")
            rename(link + ".tmp", link)
        }
    }
}
