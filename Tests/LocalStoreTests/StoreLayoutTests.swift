import Testing
import StoreFormats
@testable import LocalStore

@Suite(.tags(.small)) struct StoreLayoutTests {
    @Test func guixDefaults() throws {
        let l = try StoreLayout(environment: [:])
        #expect(l.storePath == "/gnu/store")
        #expect(l.stateDirectory == "/var/guix")
        #expect(l.databaseFile == "/var/guix/db/db.sqlite")
        #expect(l.schemaFile == "/var/guix/db/schema")
        #expect(l.bigLock == "/var/guix/db/big-lock")
        #expect(l.logDirectory == "/var/log/guix")
        #expect(l.configurationDirectory == "/etc/guix")
        #expect(l.gcRootsDirectory == "/var/guix/gcroots")
        #expect(l.autoRootsDirectory == "/var/guix/gcroots/auto")
        #expect(l.profilesDirectory == "/var/guix/profiles")
        #expect(l.tempRootsFile(pid: 42) == "/var/guix/temproots/42")
        #expect(l.userPoolDirectory == "/var/guix/userpool")
        #expect(l.daemonSocket == "/var/guix/daemon-socket/socket")
        #expect(l.gcLock == "/var/guix/gc.lock")
        #expect(l.linksDirectory == "/gnu/store/.links")
        #expect(l.trashDirectory == "/gnu/store/trash")
    }

    @Test func environmentMovesEachPart() throws {
        let l = try StoreLayout(environment: [
            "NIX_STORE_DIR": "/tmp/s/store/", "GUIX_STATE_DIRECTORY": "/tmp/s/state",
            "GUIX_LOG_DIRECTORY": "/tmp/s/log", "GUIX_CONFIGURATION_DIRECTORY": "/tmp/s/etc",
        ])
        #expect(l.storePath == "/tmp/s/store")
        #expect(l.databaseFile == "/tmp/s/state/db/db.sqlite")
        #expect(l.gcLock == "/tmp/s/state/gc.lock")
        #expect(l.drvLogDirectory == "/tmp/s/log/drvs")
        #expect(l.signingKey == "/tmp/s/etc/signing-key.sec")
        let d = try StoreLayout(environment: ["GUIX_DATABASE_DIRECTORY": "/tmp/db", "NIX_STORE": "/tmp/ns"])
        #expect(d.databaseFile == "/tmp/db/db.sqlite")
        #expect(d.stateDirectory == "/var/guix")
        #expect(d.storePath == "/tmp/ns")
    }

    @Test func relativePathsAreRefused() {
        #expect(throws: LocalStoreError.self) { try StoreLayout(environment: ["NIX_STORE_DIR": "store"]) }
        #expect(throws: LocalStoreError.self) { try StoreLayout(environment: ["GUIX_STATE_DIRECTORY": "var"]) }
    }
}
