import Testing
import Glibc
import StoreFormats
@testable import LocalStore

@Suite(.tags(.medium)) struct SchemaTests {
    /// What `sqlite_master` holds after guix-daemon creates a fresh database: SQLite keeps each
    /// CREATE statement's text, with the leading keywords upper-cased and `if not exists` dropped.
    static let expected: [String] = [
        """
        CREATE TABLE ValidPaths (
            id               integer primary key autoincrement not null,
            path             text unique not null,
            hash             text not null,
            registrationTime integer not null,
            deriver          text,
            narSize          integer
        )
        """,
        "CREATE TABLE sqlite_sequence(name,seq)",
        """
        CREATE TABLE Refs (
            referrer  integer not null,
            reference integer not null,
            primary key (referrer, reference),
            foreign key (referrer) references ValidPaths(id) on delete cascade,
            foreign key (reference) references ValidPaths(id) on delete restrict
        )
        """,
        "CREATE INDEX IndexReferrer on Refs(referrer)",
        "CREATE INDEX IndexReference on Refs(reference)",
        """
        CREATE TRIGGER DeleteSelfRefs before delete on ValidPaths
          begin
            delete from Refs where referrer = old.id and reference = old.id;
          end
        """,
        """
        CREATE TABLE DerivationOutputs (
            drv  integer not null,
            id   text not null, -- symbolic output id, usually "out"
            path text not null,
            primary key (drv, id),
            foreign key (drv) references ValidPaths(id) on delete cascade
        )
        """,
        "CREATE INDEX IndexDerivationOutputs on DerivationOutputs(path)",
        """
        CREATE TABLE FailedPaths (
            path text primary key not null,
            time integer not null
        )
        """,
    ]

    @Test func freshDatabaseHasSchemaSeven() throws {
        let t = try TestStore()
        makeDirectories(t.root + "/db")
        let file = t.root + "/db/db.sqlite"
        let db = try StoreDatabase(file: file, store: StoreDirectory(t.root + "/store"), create: true, configuration: StoreConfiguration())
        let sql = try db.db.texts("select sql from sqlite_master where sql is not null order by rowid")
        #expect(sql == Self.expected)
        var mode = ""
        try db.db.query("pragma journal_mode") { mode = $0.text(0) ?? "" }
        #expect(mode == "wal")
        #expect(try db.db.integer("pragma foreign_keys") == 1)
        // Re-opening without create keeps the schema (and `create` again is harmless).
        let again = try StoreDatabase(file: file, store: StoreDirectory(t.root + "/store"), create: true, configuration: StoreConfiguration())
        #expect(try again.db.texts("select sql from sqlite_master where sql is not null order by rowid") == Self.expected)
    }

    @Test(.enabled(if: access("/usr/bin/sqlite3", X_OK) == 0)) func sqlite3CLISeesTheSameSchema() throws {
        let t = try TestStore()
        makeDirectories(t.root + "/db")
        let file = t.root + "/db/db.sqlite"
        _ = try StoreDatabase(file: file, store: StoreDirectory(t.root + "/store"), create: true, configuration: StoreConfiguration())
        let cli = try #require(shell("sqlite3 '\(file)' .schema"))
        #expect(cli == Self.expected.map { $0 + ";\n" }.joined())
    }
}
