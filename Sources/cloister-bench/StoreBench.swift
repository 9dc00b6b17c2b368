import Glibc
import LocalStore
import StoreFormats

/// The local store: registering 100,000 small paths (batches of 1,000 per transaction, as a
/// build or an import registers), `--references` over 10,000 paths, and GC of 10,000 dead
/// paths. References measured in the same run: the sqlite3 shell inserting the same rows and
/// running the same queries, and `rm -rf` of an identical tree.
enum StoreBench {
    static func run(_ work: BenchDirectory) throws {
        let root = work.path + "/store-bench"
        _ = system("chmod -R u+w '\(root)' 2>/dev/null; rm -rf '\(root)'")
        var configuration = try StoreConfiguration(environment: [
            "NIX_STORE_DIR": root + "/store", "GUIX_STATE_DIRECTORY": root + "/state",
        ])
        configuration.reservedSpace = 0
        try register(configuration, root: root)
        try references(configuration, root: root)
        try collect(configuration, root: root)
        _ = system("chmod -R u+w '\(root)' 2>/dev/null; rm -rf '\(root)'")
    }

    static func path(_ i: Int, _ tag: String) throws -> StorePath {
        try StorePath(digest: Array(Hasher.hash(.sha256, "\(tag)\(i)").bytes.prefix(20)), name: "\(tag)-\(i)")
    }

    /// Each path refers to its predecessor and to path 0, as small closures do.
    static func infos(count: Int, tag: String) throws -> [ValidPathInfo] {
        var out: [ValidPathInfo] = []
        out.reserveCapacity(count)
        for i in 0..<count {
            var refs: Set<StorePath> = []
            if i > 0 { refs.insert(try path(i - 1, tag)); refs.insert(try path(0, tag)) }
            out.append(ValidPathInfo(path: try path(i, tag), narHash: Hasher.hash(.sha256, "\(i)"), references: refs, narSize: 200))
        }
        return out
    }

    static func register(_ configuration: StoreConfiguration, root: String) throws {
        let store = try LocalStore(configuration: configuration)
        let count = 100_000
        let all = try infos(count: count, tag: "reg")
        let start = now()
        var i = 0
        while i < count {
            try store.registerValidPaths(Array(all[i..<min(i + 1000, count)]))
            i += 1000
        }
        let seconds = now() - start

        // Reference: the sqlite3 shell inserting the same ValidPaths and Refs rows into a copy
        // of the schema, in one transaction per 1,000 paths, with the same pragmas.
        let db = root + "/reference.sqlite"
        let script = root + "/reference.sql"
        guard let f = fopen(script, "w") else { return }
        fputs("pragma journal_mode = wal; pragma synchronous = normal; pragma foreign_keys = 1;\n", f)
        fputs("create table ValidPaths (id integer primary key autoincrement not null, path text unique not null, hash text not null, registrationTime integer not null, deriver text, narSize integer);\n", f)
        fputs("create table Refs (referrer integer not null, reference integer not null, primary key (referrer, reference), foreign key (referrer) references ValidPaths(id) on delete cascade, foreign key (reference) references ValidPaths(id) on delete restrict);\n", f)
        fputs("create index IndexReferrer on Refs(referrer); create index IndexReference on Refs(reference);\n", f)
        let store0 = configuration.layout.storeDirectory
        for (n, info) in all.enumerated() {
            if n % 1000 == 0 { fputs("begin immediate;\n", f) }
            let p = info.path.absolute(in: store0)
            fputs("insert into ValidPaths (path, hash, registrationTime, narSize) values ('\(p)', '\(info.narHash.prefixedBase16)', 1, 200);\n", f)
            for r in info.references {
                fputs("insert or replace into Refs values ((select id from ValidPaths where path = '\(p)'), (select id from ValidPaths where path = '\(r.absolute(in: store0))'));\n", f)
            }
            if n % 1000 == 999 { fputs("commit;\n", f) }
        }
        fclose(f)
        let refStart = now()
        guard system("sqlite3 '\(db)' < '\(script)' > /dev/null") == 0 else { return }
        let refSeconds = now() - refStart
        report("store-register", value: Double(count) / seconds, unit: "paths/s",
               reference: Double(count) / refSeconds, referenceName: "sqlite3 shell")
    }

    static func references(_ configuration: StoreConfiguration, root: String) throws {
        let store = try LocalStore(configuration: configuration)
        let count = 10_000
        let paths = try (0..<count).map { try path($0, "reg") }
        let start = now()
        var total = 0
        for p in paths { total += try store.queryReferences(p).count }
        let seconds = now() - start
        precondition(total == 2 * (count - 1) - 1)  // path 1 refers to path 0 once

        let script = root + "/references.sql"
        guard let f = fopen(script, "w") else { return }
        for p in paths {
            fputs("select path from Refs join ValidPaths on reference = id where referrer = (select id from ValidPaths where path = '\(p.absolute(in: configuration.layout.storeDirectory))');\n", f)
        }
        fclose(f)
        let refStart = now()
        guard system("sqlite3 '\(configuration.layout.databaseFile)' < '\(script)' > /dev/null") == 0 else { return }
        let refSeconds = now() - refStart
        report("store-references", value: Double(count) / seconds, unit: "queries/s",
               reference: Double(count) / refSeconds, referenceName: "sqlite3 shell")
    }

    static func collect(_ configuration: StoreConfiguration, root: String) throws {
        // 10,000 dead paths: small files on disk (a tenth of them directories with two files),
        // registered. An identical tree outside the store is the `rm -rf` reference.
        let count = 10_000
        let all = try infos(count: count, tag: "gc")
        let store = configuration.layout.storePath
        let mirror = root + "/mirror"
        _ = system("mkdir -p '\(mirror)'")
        for base in [store, mirror] {
            for (i, info) in all.enumerated() {
                let p = base + "/" + info.path.baseName
                if i % 10 == 0 {
                    mkdir(p, 0o755)
                    for leaf in ["a", "b"] { let fd = open(p + "/" + leaf, O_CREAT | O_WRONLY, 0o444); _ = write(fd, "x", 1); close(fd) }
                    chmod(p, 0o555)
                } else {
                    let fd = open(p, O_CREAT | O_WRONLY, 0o444); _ = write(fd, "contents", 8); close(fd)
                }
            }
        }
        do {
            let setup = try LocalStore(configuration: configuration)
            // The register/references paths are dead too; drop them first (not timed).
            _ = try setup.collectGarbage(GCOptions(action: .deleteDead))
            var i = 0
            while i < count { try setup.registerValidPaths(Array(all[i..<min(i + 1000, count)])); i += 1000 }
        }
        let gc = try LocalStore(configuration: configuration)
        let start = now()
        let result = try gc.collectGarbage(GCOptions(action: .deleteDead))
        let seconds = now() - start
        precondition(result.paths.count == count, "collected \(result.paths.count)")
        let refStart = now()
        _ = system("chmod -R u+w '\(mirror)' && rm -rf '\(mirror)'")
        let refSeconds = now() - refStart
        report("store-gc", value: Double(count) / seconds, unit: "paths/s",
               reference: Double(count) / refSeconds, referenceName: "chmod+rm -rf")
    }
}

/// Adding a 256 MiB tree (64 files of 4 MiB) from a NAR: throughput against `cp -r` of the same
/// tree on the same file system (copy floor) — the add also hashes, canonicalises, deduplicates
/// and registers.
enum StoreAddBench {
    static func run(_ work: BenchDirectory) throws {
        let root = work.path + "/store-add-bench"
        _ = system("chmod -R u+w '\(root)' 2>/dev/null; rm -rf '\(root)'")
        var configuration = try StoreConfiguration(environment: ["NIX_STORE_DIR": root + "/store", "GUIX_STATE_DIRECTORY": root + "/state"])
        configuration.reservedSpace = 0
        let store = try LocalStore(configuration: configuration)
        var w = NARWriter(sink: [UInt8]())
        try w.beginDirectory()
        var seed: UInt64 = 0x9E3779B97F4A7C15
        let files = 64, size = 4 << 20
        _ = system("mkdir -p '\(root)/tree'")
        for i in 0..<files {
            var bytes = [UInt8](repeating: 0, count: size)
            bytes.withUnsafeMutableBytes { raw in
                let words = raw.bindMemory(to: UInt64.self)
                for j in 0..<words.count { seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17; words[j] = seed }
            }
            let name = "f\(String(i + 100))"
            try w.beginEntry(name: Array(name.utf8))
            try w.beginRegularFile(executable: false, size: UInt64(size))
            try bytes.withUnsafeBytes { try w.contents($0) }
            try w.endRegularFile(); try w.endEntry()
            let fd = open(root + "/tree/" + name, O_CREAT | O_WRONLY, 0o644)
            _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
        }
        try w.endDirectory()
        let nar = w.sink
        let mib = Double(files * size) / Double(1 << 20)
        let start = now()
        _ = try store.addToStore(nar: ByteArraySource(nar), name: "big-tree", method: .recursive)
        let seconds = now() - start
        let refStart = now()
        _ = system("cp -r '\(root)/tree' '\(root)/copy' && sync -f '\(root)/copy'")
        let refSeconds = now() - refStart
        report("store-add", value: mib / seconds, unit: "MiB/s", reference: mib / refSeconds, referenceName: "cp -r")
        _ = system("chmod -R u+w '\(root)' 2>/dev/null; rm -rf '\(root)'")
    }
}
