/// A thin wrapper over the system libsqlite3: one connection, prepared statements cached by their
/// SQL text, typed errors carrying SQLite's message, and `BEGIN IMMEDIATE` transactions that wait
/// out other writers (busy timeout, then a retry loop as guix-daemon's `retry_sqlite` does).
/// Not thread-safe: one connection per thread or process (guix-daemon opens one per worker).
import CSQLite
import LinuxSystem

/// A value bound to or read from a statement. Only the types the schema uses.
public enum SQLiteValue: Equatable, Sendable {
    case integer(Int64)
    case text(String)
    case null
}

final class SQLiteStatement {
    let handle: OpaquePointer
    let sql: String

    init(handle: OpaquePointer, sql: String) {
        self.handle = handle
        self.sql = sql
    }

    deinit { sqlite3_finalize(handle) }

    /// SQLite copies bound text at once (SQLITE_TRANSIENT), so Swift strings need not outlive the call.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    func bind(_ values: [SQLiteValue], db: OpaquePointer) throws(LocalStoreError) {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        for (i, value) in values.enumerated() {
            let index = Int32(i + 1)
            let rc: Int32
            switch value {
            case .integer(let n): rc = sqlite3_bind_int64(handle, index, n)
            case .null: rc = sqlite3_bind_null(handle, index)
            case .text(let s):
                rc = s.withCString { sqlite3_bind_text(handle, index, $0, -1, Self.transient) }
            }
            guard rc == SQLITE_OK else { throw SQLiteDatabase.error(rc, db: db, context: "binding \(sql)") }
        }
    }

    /// One text parameter that SQLite reads in place (SQLITE_STATIC: no copy); the caller keeps
    /// `bytes` alive until it clears the bindings (hot lookups by path).
    func bind(borrowing bytes: UnsafeBufferPointer<UInt8>, db: OpaquePointer) throws(LocalStoreError) {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        let rc = bytes.withMemoryRebound(to: CChar.self) { sqlite3_bind_text(handle, 1, $0.baseAddress, Int32(bytes.count), nil) }
        guard rc == SQLITE_OK else { throw SQLiteDatabase.error(rc, db: db, context: "binding \(sql)") }
    }

    func integer(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }
    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }
    func text(_ column: Int32) -> String? {
        guard let p = sqlite3_column_text(handle, column) else { return nil }
        let n = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
    }
}

public final class SQLiteDatabase {
    let handle: OpaquePointer
    private var cache: [String: SQLiteStatement] = [:]
    private(set) var inTransaction = false

    /// Opens (creating if needed) the database file; `readOnly` opens an existing file for
    /// reading only.
    init(path: String, busyTimeoutMilliseconds: Int32, readOnly: Bool = false) throws(LocalStoreError) {
        var db: OpaquePointer?
        var flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX
        var name = path
        // A reader that may not create the WAL index (`-shm`) can only read a WAL database while
        // a writer keeps the index; with no `-wal` file every committed page is in the main file,
        // so read it as immutable. (A writer starting meanwhile is not seen by this connection.)
        if readOnly && !Self.exists(path + "-wal") && !Self.exists(path + "-shm") {
            flags |= SQLITE_OPEN_URI
            name = "file:" + Self.uriEscaped(path) + "?immutable=1"
        }
        let rc = sqlite3_open_v2(name, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            if let db { sqlite3_close_v2(db) }
            throw .sqlite(code: rc, extendedCode: rc, message: message, context: "opening \(path)")
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, busyTimeoutMilliseconds)
    }

    static func exists(_ path: String) -> Bool {
        (try? FileDescriptor.currentDirectory.status(at: Array(path.utf8))) != nil
    }

    /// `path` with the characters a URI filename reserves (`%`, `?`, `#`) percent-encoded.
    static func uriEscaped(_ path: String) -> String {
        var out = ""
        for c in path.unicodeScalars {
            switch c {
            case "%": out += "%25"
            case "?": out += "%3f"
            case "#": out += "%23"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    deinit {
        cache.removeAll()
        sqlite3_close_v2(handle)
    }

    static func error(_ rc: Int32, db: OpaquePointer, context: String) -> LocalStoreError {
        .sqlite(code: rc & 0xFF, extendedCode: sqlite3_extended_errcode(db),
                message: String(cString: sqlite3_errmsg(db)), context: context)
    }

    /// Runs one or more statements without results (schema, pragmas, BEGIN/COMMIT).
    func execute(_ sql: String) throws(LocalStoreError) {
        var attempts = 0
        while true {
            let rc = sqlite3_exec(handle, sql, nil, nil, nil)
            if rc == SQLITE_OK { return }
            // BUSY after the busy timeout: another writer holds on; keep waiting as Guix does.
            if rc & 0xFF == SQLITE_BUSY && attempts < 1000 { attempts += 1; continue }
            throw Self.error(rc, db: handle, context: "executing \(sql.prefix(60))")
        }
    }

    func statement(_ sql: String) throws(LocalStoreError) -> SQLiteStatement {
        if let cached = cache[sql] { return cached }
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw Self.error(rc, db: handle, context: "preparing \(sql)") }
        let statement = SQLiteStatement(handle: stmt, sql: sql)
        cache[sql] = statement
        return statement
    }

    /// Runs a statement that returns no rows.
    func run(_ sql: String, _ values: [SQLiteValue] = []) throws(LocalStoreError) {
        let stmt = try statement(sql)
        try stmt.bind(values, db: handle)
        defer { sqlite3_reset(stmt.handle) }
        let rc = sqlite3_step(stmt.handle)
        guard rc == SQLITE_DONE || rc == SQLITE_ROW else { throw Self.error(rc, db: handle, context: "running \(sql)") }
    }

    /// Runs a query, calling `row` for each result row.
    func query(_ sql: String, _ values: [SQLiteValue] = [], row: (SQLiteStatement) throws(LocalStoreError) -> Void) throws(LocalStoreError) {
        try query(try statement(sql), values, row: row)
    }

    /// Runs a statement the caller holds (a hot query skips the cache lookup, which hashes the
    /// whole SQL text each time).
    func query(_ stmt: SQLiteStatement, _ values: [SQLiteValue], row: (SQLiteStatement) throws(LocalStoreError) -> Void) throws(LocalStoreError) {
        try stmt.bind(values, db: handle)
        try step(stmt, row: row)
    }

    /// `query` of a held statement with one (non-empty) text parameter, bound without a copy:
    /// the binding is cleared before the text's bytes go out of scope.
    func query(_ stmt: SQLiteStatement, text: String, row: (SQLiteStatement) throws(LocalStoreError) -> Void) throws(LocalStoreError) {
        // An empty buffer may have no address, which SQLite would bind as NULL.
        guard !text.isEmpty else { return try query(stmt, [.text(text)], row: row) }
        var text = text
        let done: Result<Void, LocalStoreError> = text.withUTF8 { bytes in
            defer { sqlite3_clear_bindings(stmt.handle) }
            do throws(LocalStoreError) {
                try stmt.bind(borrowing: bytes, db: handle)
                try step(stmt, row: row)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try done.get()
    }

    private func step(_ stmt: SQLiteStatement, row: (SQLiteStatement) throws(LocalStoreError) -> Void) throws(LocalStoreError) {
        defer { sqlite3_reset(stmt.handle) }
        while true {
            let rc = sqlite3_step(stmt.handle)
            if rc == SQLITE_DONE { return }
            guard rc == SQLITE_ROW else { throw Self.error(rc, db: handle, context: "querying \(stmt.sql)") }
            try row(stmt)
        }
    }

    /// The first column of each row, as text.
    func texts(_ sql: String, _ values: [SQLiteValue] = []) throws(LocalStoreError) -> [String] {
        var out: [String] = []
        try query(sql, values) { stmt in if let t = stmt.text(0) { out.append(t) } }
        return out
    }

    /// The first column of the first row, as an integer, if there is a row.
    func integer(_ sql: String, _ values: [SQLiteValue] = []) throws(LocalStoreError) -> Int64? {
        var out: Int64?
        try query(sql, values) { stmt in if out == nil { out = stmt.integer(0) } }
        return out
    }

    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// Several reads under one snapshot and one WAL read lock (a deferred `BEGIN`) instead of a
    /// lock and unlock per statement (a closure walk makes hundreds). Inside a transaction the
    /// body just runs; the body must not write.
    func reading<T>(_ body: () throws(LocalStoreError) -> T) throws(LocalStoreError) -> T {
        if inTransaction || sqlite3_get_autocommit(handle) == 0 { return try body() }
        return try run("begin", body)
    }

    /// `BEGIN IMMEDIATE` takes the write lock up front, so a transaction never fails half-way for
    /// lack of it; any error rolls back, leaving the database as before.
    func transaction<T>(_ body: () throws(LocalStoreError) -> T) throws(LocalStoreError) -> T {
        precondition(!inTransaction, "nested store transaction")
        return try run("begin immediate", body)
    }

    /// `begin`, the body, `commit`; any error rolls back.
    private func run<T>(_ begin: String, _ body: () throws(LocalStoreError) -> T) throws(LocalStoreError) -> T {
        try execute(begin)
        inTransaction = true
        defer { inTransaction = false }
        do {
            let result = try body()
            try execute("commit")
            return result
        } catch {
            _ = sqlite3_exec(handle, "rollback", nil, nil, nil)
            throw error
        }
    }
}
