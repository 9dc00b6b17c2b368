/// The store's SQLite database (schema 7) and every query LocalStore makes on it. Paths are kept
/// as absolute text, hashes as `sha256:<base16>`, a missing deriver as NULL and an unknown
/// narSize as NULL, exactly as guix-daemon writes them.
import StoreFormats

final class StoreDatabase {
    let db: SQLiteDatabase
    let store: StoreDirectory
    /// `queryPathInfo`'s statement, prepared on first use and held (the hottest query).
    private var pathInfoStatement: SQLiteStatement?

    /// Opens `file`, creating the schema if `create`; applies guix-daemon's connection pragmas.
    /// `readOnly` (a store this user may not write) opens it for queries only and changes nothing.
    init(file: String, store: StoreDirectory, create: Bool, readOnly: Bool = false, configuration: StoreConfiguration) throws(LocalStoreError) {
        db = try SQLiteDatabase(path: file, busyTimeoutMilliseconds: configuration.busyTimeoutMilliseconds, readOnly: readOnly)
        self.store = store
        if readOnly { return }
        try db.execute("pragma foreign_keys = 1")
        try db.execute(configuration.fsyncMetadata ? "pragma synchronous = normal" : "pragma synchronous = off")
        let mode = configuration.useSQLiteWAL ? "wal" : "truncate"
        var current = ""
        try db.query("pragma main.journal_mode") { row in current = row.text(0) ?? "" }
        if current != mode { try db.execute("pragma main.journal_mode = \(mode)") }
        if configuration.useSQLiteWAL { try db.execute("pragma wal_autocheckpoint = 40000") }
        if create { try db.execute(StoreSchema.sql) }
    }

    func absolute(_ path: StorePath) -> SQLiteValue { .text(path.absolute(in: store)) }

    /// Database text back into a StorePath. Rows come from us or from guix-daemon; the lax Nix
    /// name rules accept both.
    func storePath(_ text: String) throws(LocalStoreError) -> StorePath {
        do { return try StorePath(parsing: text, in: store, rules: .nix) } catch { throw .format(error) }
    }

    // MARK: ValidPaths

    func pathID(_ path: StorePath) throws(LocalStoreError) -> Int64? {
        try db.integer("select id from ValidPaths where path = ?", [absolute(path)])
    }

    func isValid(_ path: StorePath) throws(LocalStoreError) -> Bool { try pathID(path) != nil }

    func insertValidPath(_ info: ValidPathInfo, now: Int64) throws(LocalStoreError) -> Int64 {
        try db.run("insert into ValidPaths (path, hash, registrationTime, deriver, narSize) values (?, ?, ?, ?, ?)", [
            absolute(info.path), .text(info.narHash.prefixedBase16),
            .integer(info.registrationTime == 0 ? now : info.registrationTime),
            info.deriver.map(absolute) ?? .null,
            info.narSize == 0 ? .null : .integer(Int64(bitPattern: info.narSize)),
        ])
        return db.lastInsertRowID
    }

    /// Re-registering a valid path updates only its hash and size (local-store.cc:updatePathInfo).
    func updatePathInfo(_ info: ValidPathInfo) throws(LocalStoreError) {
        try db.run("update ValidPaths set narSize = ?, hash = ? where path = ?", [
            info.narSize == 0 ? .null : .integer(Int64(bitPattern: info.narSize)),
            .text(info.narHash.prefixedBase16), absolute(info.path),
        ])
    }

    func addReference(referrer: Int64, reference: Int64) throws(LocalStoreError) {
        try db.run("insert or replace into Refs (referrer, reference) values (?, ?)", [.integer(referrer), .integer(reference)])
    }

    func addDerivationOutput(drv: Int64, id: String, path: StorePath) throws(LocalStoreError) {
        try db.run("insert or replace into DerivationOutputs (drv, id, path) values (?, ?, ?)", [.integer(drv), .text(id), absolute(path)])
    }

    /// One statement for the row and its references (a left join: one row per reference, or
    /// one with a NULL reference): a single read transaction, so one SQLite lock round instead
    /// of two — this is the worker protocol's hottest query (QueryPathInfo, `-q --references`).
    func queryPathInfo(_ path: StorePath) throws(LocalStoreError) -> ValidPathInfo? {
        var row: (hash: String, time: Int64, deriver: String?, size: Int64)?
        var referenceTexts: [String] = []
        let statement: SQLiteStatement
        if let held = pathInfoStatement { statement = held } else {
            statement = try db.statement("""
                select v.hash, v.registrationTime, v.deriver, v.narSize, r.path from ValidPaths v \
                left join Refs on Refs.referrer = v.id left join ValidPaths r on r.id = Refs.reference where v.path = ?
                """)
            pathInfoStatement = statement
        }
        try db.query(statement, text: path.absolute(in: store)) { r in
            if row == nil { row = (r.text(0) ?? "", r.integer(1), r.isNull(2) ? nil : r.text(2), r.isNull(3) ? 0 : r.integer(3)) }
            if !r.isNull(4), let text = r.text(4) { referenceTexts.append(text) }
        }
        guard let row else { return nil }
        let hash: Hash
        do { hash = try Hash(parsing: row.hash, defaultAlgorithm: .sha256) } catch {
            throw .corrupt(path.absolute(in: store), reason: "invalid hash in the database: \(error.description)")
        }
        // Guix tolerates a deriver that does not parse (old databases); so do we.
        let deriver = row.deriver.flatMap { try? StorePath(parsing: $0, in: store, rules: .nix) }
        var references = Set<StorePath>(minimumCapacity: referenceTexts.count)
        for text in referenceTexts { references.insert(try storePath(text)) }
        return ValidPathInfo(path: path, narHash: hash, references: references, deriver: deriver,
                             narSize: UInt64(bitPattern: row.size), registrationTime: row.time)
    }

    func references(_ path: StorePath) throws(LocalStoreError) -> [StorePath] {
        try db.texts("select path from Refs join ValidPaths on reference = id where referrer = (select id from ValidPaths where path = ?)",
                     [absolute(path)]).map { (t) throws(LocalStoreError) in try storePath(t) }
    }

    func referrers(_ path: StorePath) throws(LocalStoreError) -> [StorePath] {
        try db.texts("select path from Refs join ValidPaths on referrer = id where reference = (select id from ValidPaths where path = ?)",
                     [absolute(path)]).map { (t) throws(LocalStoreError) in try storePath(t) }
    }

    /// Every reference of every valid path, as (referrer, reference) absolute path texts.
    func referencePairs(_ each: (String, String) -> Void) throws(LocalStoreError) {
        try db.query("select r.path, f.path from Refs join ValidPaths r on r.id = Refs.referrer join ValidPaths f on f.id = Refs.reference") { row in
            if let referrer = row.text(0), let reference = row.text(1) { each(referrer, reference) }
        }
    }

    /// Valid derivations that list `path` as an output.
    func validDerivers(_ path: StorePath) throws(LocalStoreError) -> [StorePath] {
        try db.texts("select v.path from DerivationOutputs d join ValidPaths v on d.drv = v.id where d.path = ?",
                     [absolute(path)]).map { (t) throws(LocalStoreError) in try storePath(t) }
    }

    /// `(output id, path)` of a valid derivation, by output id.
    func derivationOutputs(_ drv: StorePath) throws(LocalStoreError) -> [(id: String, path: StorePath)] {
        var out: [(id: String, path: StorePath)] = []
        var texts: [(String, String)] = []
        try db.query("select id, path from DerivationOutputs where drv = (select id from ValidPaths where path = ?) order by id",
                     [absolute(drv)]) { r in texts.append((r.text(0) ?? "", r.text(1) ?? "")) }
        for (id, p) in texts { out.append((id, try storePath(p))) }
        return out
    }

    func allValidPaths() throws(LocalStoreError) -> [StorePath] {
        try db.texts("select path from ValidPaths").map { (t) throws(LocalStoreError) in try storePath(t) }
    }

    /// QueryPathFromHashPart: the valid path whose hash part is `hashPart`.
    func pathFromHashPart(_ hashPart: String) throws(LocalStoreError) -> StorePath? {
        let prefix = store.path + "/" + hashPart
        guard let text = try db.texts("select path from ValidPaths where path >= ? limit 1", [.text(prefix)]).first,
              text.hasPrefix(prefix + "-") else { return nil }
        return try storePath(text)
    }

    /// Removes the row (its Refs go with it) and returns its NAR size (0 if there was none).
    func deleteValidPath(_ path: StorePath) throws(LocalStoreError) -> UInt64 {
        let size = try db.integer("delete from ValidPaths where path = ? returning narSize", [absolute(path)])
        return UInt64(max(size ?? 0, 0))
    }

    // MARK: FailedPaths

    func addFailedPath(_ path: StorePath, time: Int64) throws(LocalStoreError) {
        try db.run("insert or replace into FailedPaths (path, time) values (?, ?)", [absolute(path), .integer(time)])
    }

    func hasFailed(_ path: StorePath) throws(LocalStoreError) -> Bool {
        try db.integer("select 1 from FailedPaths where path = ?", [absolute(path)]) != nil
    }

    func failedPaths() throws(LocalStoreError) -> [String] { try db.texts("select path from FailedPaths") }

    func clearFailedPaths(_ paths: [String]) throws(LocalStoreError) {
        for p in paths { try db.run("delete from FailedPaths where path = ?", [.text(p)]) }
    }
}
