/// Where a Guix store lives on disk (guix-daemon.md §6.2) and how the daemon's environment moves
/// it (§6.3): `NIX_STORE_DIR` (fallback `NIX_STORE`), `GUIX_STATE_DIRECTORY`,
/// `GUIX_DATABASE_DIRECTORY`, `GUIX_LOG_DIRECTORY`, `GUIX_CONFIGURATION_DIRECTORY`.
/// The environment is passed in as a dictionary: nothing here reads process-global state.
import StoreFormats

public struct StoreLayout: Hashable, Sendable {
    /// `/gnu/store`.
    public var storeDirectory: StoreDirectory
    /// `/var/guix`.
    public var stateDirectory: String
    /// `/var/guix/db`: `db.sqlite`, `schema`, `big-lock`, `reserved`.
    public var databaseDirectory: String
    /// `/var/log/guix`.
    public var logDirectory: String
    /// `/etc/guix`.
    public var configurationDirectory: String

    public init(storeDirectory: StoreDirectory = .guix, stateDirectory: String = "/var/guix",
                databaseDirectory: String? = nil, logDirectory: String = "/var/log/guix",
                configurationDirectory: String = "/etc/guix") {
        self.storeDirectory = storeDirectory
        self.stateDirectory = stateDirectory
        self.databaseDirectory = databaseDirectory ?? stateDirectory + "/db"
        self.logDirectory = logDirectory
        self.configurationDirectory = configurationDirectory
    }

    /// Guix's defaults moved by the daemon's environment variables. Empty values count as unset
    /// (globals.cc reads them with getEnv's default). The database directory follows the state
    /// directory unless set on its own.
    public init(environment: [String: String]) throws(LocalStoreError) {
        func value(_ name: String) -> String? {
            guard let v = environment[name], !v.isEmpty else { return nil }
            return v
        }
        let store = value("NIX_STORE_DIR") ?? value("NIX_STORE") ?? StoreDirectory.guix.path
        let directory: StoreDirectory
        do { directory = try StoreDirectory(store) } catch {
            throw .invalidConfiguration("NIX_STORE_DIR", reason: error.description)
        }
        let state = value("GUIX_STATE_DIRECTORY") ?? "/var/guix"
        self.init(storeDirectory: directory, stateDirectory: state,
                  databaseDirectory: value("GUIX_DATABASE_DIRECTORY") ?? state + "/db",
                  logDirectory: value("GUIX_LOG_DIRECTORY") ?? "/var/log/guix",
                  configurationDirectory: value("GUIX_CONFIGURATION_DIRECTORY") ?? "/etc/guix")
        for (name, path) in [("GUIX_STATE_DIRECTORY", stateDirectory), ("GUIX_DATABASE_DIRECTORY", databaseDirectory),
                             ("GUIX_LOG_DIRECTORY", logDirectory), ("GUIX_CONFIGURATION_DIRECTORY", configurationDirectory)]
        where !path.hasPrefix("/") {
            throw .invalidConfiguration(name, reason: "'\(path)' is not an absolute path")
        }
    }

    public var storePath: String { storeDirectory.path }
    public var databaseFile: String { databaseDirectory + "/db.sqlite" }
    /// Holds the text `7`.
    public var schemaFile: String { databaseDirectory + "/schema" }
    /// Read-locked by every store, write-locked for schema upgrades.
    public var bigLock: String { databaseDirectory + "/big-lock" }
    /// 8 MiB kept free so the GC itself can run on a full disk.
    public var reservedFile: String { databaseDirectory + "/reserved" }
    public var gcLock: String { stateDirectory + "/gc.lock" }
    public var gcRootsDirectory: String { stateDirectory + "/gcroots" }
    /// Indirect roots: `auto/<nix32(sha1(link))>` → the user's link.
    public var autoRootsDirectory: String { gcRootsDirectory + "/auto" }
    public var profilesDirectory: String { stateDirectory + "/profiles" }
    public var manifestsDirectory: String { stateDirectory + "/manifests" }
    public var tempRootsDirectory: String { stateDirectory + "/temproots" }
    public var userPoolDirectory: String { stateDirectory + "/userpool" }
    public var daemonSocketDirectory: String { stateDirectory + "/daemon-socket" }
    public var daemonSocket: String { daemonSocketDirectory + "/socket" }
    /// Deduplicated file contents, `<store>/.links/<nix32 NAR sha256>`.
    public var linksDirectory: String { storePath + "/.links" }
    /// Where GC moves directories before deleting them.
    public var trashDirectory: String { storePath + "/trash" }
    /// Build logs: `drvs/XX/REST[.gz|.bz2]`.
    public var drvLogDirectory: String { logDirectory + "/drvs" }
    /// Nix signatures of valid paths, `<base name>` each (SignatureFiles).
    public var signaturesDirectory: String { stateDirectory + "/signatures" }
    public var signingKey: String { configurationDirectory + "/signing-key.sec" }
    public var acl: String { configurationDirectory + "/acl" }

    public func tempRootsFile(pid: Int32) -> String { tempRootsDirectory + "/\(pid)" }
    public func absolute(_ path: StorePath) -> String { path.absolute(in: storeDirectory) }
}

/// The settings of guix-daemon that change how the store behaves (§6.1), as one value passed down.
public struct StoreConfiguration: Sendable {
    public var layout: StoreLayout
    /// Which store path names are accepted (Guix rejects a leading dot).
    public var nameRules: StorePathName.Rules
    /// `--gc-keep-outputs`: default no.
    public var gcKeepOutputs: Bool
    /// `--gc-keep-derivations`: default yes.
    public var gcKeepDerivations: Bool
    /// Hard-link identical files into `.links` (off with `--disable-deduplication`).
    public var deduplicate: Bool
    /// Largest `.drv` read when registering or hashing one (the worker protocol's limit for a
    /// string, 64 MiB): a bigger file is refused with `derivationTooLarge`, not read into memory.
    public var derivationSizeLimit: UInt64 = 64 << 20
    /// `fsync-metadata`: SQLite `synchronous=normal` and fsync of new store files (else off).
    public var fsyncMetadata: Bool
    /// `sync-before-registering`: fsync every new file and directory before registering it
    /// (default off, as in Guix: a process crash never loses page-cache data; power loss can).
    public var syncBeforeRegistering: Bool
    /// Refuse to register a `.drv` whose output paths are not the ones its contents imply
    /// (guix-daemon always checks).
    public var checkDerivationOutputs: Bool = true
    /// Treat store items used by running processes as roots (`guix gc --list-busy`).
    public var scanRuntimeRoots: Bool = true
    /// `use-sqlite-wal`: journal mode WAL (else truncate).
    public var useSQLiteWAL: Bool
    /// How long a connection waits on another's write lock before SQLITE_BUSY (Guix: 1 hour).
    public var busyTimeoutMilliseconds: Int32
    /// `gc-reserved-space`, the size of `db/reserved`.
    public var reservedSpace: UInt64

    public init(layout: StoreLayout = StoreLayout(), nameRules: StorePathName.Rules = .guix,
                gcKeepOutputs: Bool = false, gcKeepDerivations: Bool = true, deduplicate: Bool = true,
                fsyncMetadata: Bool = true, syncBeforeRegistering: Bool = false, useSQLiteWAL: Bool = true,
                busyTimeoutMilliseconds: Int32 = 3_600_000, reservedSpace: UInt64 = 8 << 20) {
        self.layout = layout
        self.nameRules = nameRules
        self.gcKeepOutputs = gcKeepOutputs
        self.gcKeepDerivations = gcKeepDerivations
        self.deduplicate = deduplicate
        self.fsyncMetadata = fsyncMetadata
        self.syncBeforeRegistering = syncBeforeRegistering
        self.useSQLiteWAL = useSQLiteWAL
        self.busyTimeoutMilliseconds = busyTimeoutMilliseconds
        self.reservedSpace = reservedSpace
    }

    /// Defaults with the layout taken from `environment`.
    public init(environment: [String: String]) throws(LocalStoreError) {
        self.init(layout: try StoreLayout(environment: environment))
    }
}
