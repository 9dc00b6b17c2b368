/// The environment variables guix-daemon reads at startup (guix-daemon.md §6.3;
/// globals.cc:Settings::processEnvironment, guix-daemon.cc:systemd_activation_sockets), applied
/// to a configuration. A variable that is set but empty counts as set, as nix's `getEnv` does.
import StoreFormats

extension DaemonConfiguration {
    /// The names read here, for `--help` and the docs.
    public static let environmentVariables: [(name: String, meaning: String)] = [
        ("NIX_STORE_DIR", "the store (fallback NIX_STORE; default /gnu/store)"),
        ("GUIX_STATE_DIRECTORY", "state: database, roots, socket (default /var/guix)"),
        ("GUIX_DATABASE_DIRECTORY", "the database (default <state>/db)"),
        ("GUIX_LOG_DIRECTORY", "build logs (default /var/log/guix)"),
        ("GUIX_CONFIGURATION_DIRECTORY", "signing key, ACL (default /etc/guix)"),
        ("NIX_BIN_DIR", "where the guix program is found"),
        ("GUIX", "the guix program (default <NIX_BIN_DIR>/guix)"),
        ("TMPDIR", "where build trees are created (default /tmp)"),
        ("LISTEN_PID, LISTEN_FDS", "systemd socket activation"),
        ("http_proxy, https_proxy", "proxies for fixed-output downloads"),
        ("NIX_IGNORE_SYMLINK_STORE", "1: allow the store to be a symlink"),
        ("GUIX_FORCE_SECCOMP", "set: always filter slirp4netns with seccomp"),
        ("NIX_AFFINITY_HACK", "read but unused, as in guix-daemon"),
    ]

    /// processEnvironment: the directory variables must be absolute and are canonicalised
    /// (except GUIX_DATABASE_DIRECTORY, which guix-daemon takes as is). Returns the offending
    /// value when one is not absolute.
    mutating func apply(environment: [String: String], processID: Int32) throws(NotAbsolute) {
        func absolute(_ name: String, fallback: String) throws(NotAbsolute) -> String {
            let value = environment[name] ?? fallback
            guard value.hasPrefix("/") else { throw NotAbsolute(path: value) }
            return PathText.canonical(value)
        }
        storeDirectory = try absolute("NIX_STORE_DIR", fallback: environment["NIX_STORE"] ?? storeDirectory)
        logDirectory = try absolute("GUIX_LOG_DIRECTORY", fallback: logDirectory)
        stateDirectory = try absolute("GUIX_STATE_DIRECTORY", fallback: stateDirectory)
        databaseDirectory = environment["GUIX_DATABASE_DIRECTORY"] ?? stateDirectory + "/db"
        configurationDirectory = try absolute("GUIX_CONFIGURATION_DIRECTORY", fallback: configurationDirectory)
        binDirectory = try absolute("NIX_BIN_DIR", fallback: binDirectory)
        defaultSocketPath = PathText.canonical(stateDirectory + "/daemon-socket/socket")
        guixProgram = try absolute("GUIX", fallback: binDirectory + "/guix")
        temporaryDirectory = environment["TMPDIR"] ?? "/tmp"

        ignoreSymlinkStore = environment["NIX_IGNORE_SYMLINK_STORE"] == "1"
        lockCPU = (environment["NIX_AFFINITY_HACK"] ?? "1") == "1"
        forceSeccomp = environment["GUIX_FORCE_SECCOMP"] != nil
        httpProxy = environment["http_proxy"]
        httpsProxy = environment["https_proxy"]

        // systemd_activation_sockets: only when LISTEN_PID names this very process, and
        // LISTEN_FDS reads as an unsigned count; otherwise not activated (no error).
        activationDescriptors = []
        if environment["LISTEN_PID"] == String(processID),
           let text = environment["LISTEN_FDS"],
           let count = SettingValues.integer(text, as: .unsigned32), count > 0, count <= 1024 {
            activationDescriptors = (0..<count).map { Int32(3 + $0) }
        }
    }

    /// nix's canonPath refusal: ``not an absolute path: `X'``.
    struct NotAbsolute: Error, Equatable {
        let path: String
    }
}
