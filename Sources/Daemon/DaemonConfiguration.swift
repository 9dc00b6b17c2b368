import StoreFormats

/// Everything `cloister-daemon` is told at startup, as one plain value: the command-line options
/// of guix-daemon (guix-daemon.md §6.1), the environment it reads (§6.3) and the paths derived
/// from them (§6.2). It is built once by `DaemonCommandLine.parse` and then passed down to the
/// listener, the sessions and the builder; nothing reads settings from a global.
///
/// Every default below is guix-daemon's (guix-daemon.cc:main, globals.cc:Settings), so a unit
/// file written for guix-daemon behaves the same with `cloister-daemon`.
public struct DaemonConfiguration: Sendable, Equatable {
    // MARK: Paths (§6.2), set from the environment (§6.3)

    /// `NIX_STORE_DIR` (fallback `NIX_STORE`), canonicalised.
    public var storeDirectory = "/gnu/store"
    /// `GUIX_STATE_DIRECTORY`, canonicalised.
    public var stateDirectory = "/var/guix"
    /// `GUIX_DATABASE_DIRECTORY`, else `<state>/db` (guix-daemon does not canonicalise this one).
    public var databaseDirectory = "/var/guix/db"
    /// `GUIX_LOG_DIRECTORY`, canonicalised; build logs go to `<log>/drvs/XX/…`.
    public var logDirectory = "/var/log/guix"
    /// `GUIX_CONFIGURATION_DIRECTORY`, canonicalised: `signing-key.sec`, `acl`, `machines.scm`.
    public var configurationDirectory = "/etc/guix"
    /// `NIX_BIN_DIR`: where the `guix` helper programs live. Guix's default is its configure-time
    /// bindir; on a foreign distribution that is root's current Guix.
    public var binDirectory = "/var/guix/profiles/per-user/root/current-guix/bin"
    /// `GUIX`, else `<bin>/guix`: runs `guix substitute`, `guix offload`, `guix discover`, builtins.
    public var guixProgram = "/var/guix/profiles/per-user/root/current-guix/bin/guix"
    /// The default Unix socket, `<state>/daemon-socket/socket`; used when no `--listen` is given.
    public var defaultSocketPath = "/var/guix/daemon-socket/socket"
    /// `TMPDIR`, else `/tmp`: where build trees are made on the host.
    public var temporaryDirectory = "/tmp"

    // MARK: Command-line options (§6.1)

    /// `--build-users-group=GROUP`: nil means no build-user pool (builds in user namespaces).
    public var buildUsersGroup: String?
    /// `--cores`, `-c`: `build-cores`; 0 = all cores. Exported to builders as NIX_BUILD_CORES.
    public var buildCores = 0
    /// `--max-jobs`, `-M`: `build-max-jobs`, per connection; 0 = only offload.
    public var maxBuildJobs = 1
    /// `--timeout`: `build-timeout` in seconds; 0 = none.
    public var buildTimeout = 86_400
    /// `--max-silent-time`: `build-max-silent-time` in seconds; 0 = none.
    public var maxSilentTime = 3_600
    /// `--disable-chroot` sets this to false (§3.1).
    public var useChroot = true
    /// `--chroot-directory=DIR`, repeatable: `build-extra-chroot-dirs`, each `DIR` or `IN=OUT`.
    public var extraChrootDirectories: [String] = []
    /// `--no-substitutes` sets this to false; clients cannot turn it back on.
    public var useSubstitutes = true
    /// `--substitute-urls=URLS`: space-separated (config-daemon.ac's GUIX_SUBSTITUTE_URLS).
    public var substituteURLs = ["https://bordeaux.guix.gnu.org", "https://ci.guix.gnu.org"]
    /// `--no-offload`: guix-daemon defaults to true only when built with offload support;
    /// Cloister has no build hook yet, so false (the option is accepted and recorded).
    public var useBuildHook = false
    /// `--cache-failures`.
    public var cacheFailures = false
    /// `--rounds=N` stores N-1: how many extra times each derivation is built and compared.
    public var buildRepeat = 0
    /// `--lose-logs` sets this to false.
    public var keepLog = true
    /// `--log-compression=TYPE`, `--disable-log-compression`.
    public var logCompression = LogCompression.gzip
    /// `--discover[=yes|no]`: run `guix discover` to find substitute servers on the LAN.
    public var discover = false
    /// `--disable-deduplication` (alias `--disable-store-optimization`) sets this to false.
    public var autoOptimiseStore = true
    /// `--impersonate-linux-2.6`: builds get the UNAME26 personality.
    public var impersonateLinux26 = false
    /// `--gc-keep-outputs[=yes|no]`.
    public var gcKeepOutputs = false
    /// `--gc-keep-derivations[=yes|no]`.
    public var gcKeepDerivations = true
    /// `--listen=SOCKET`, repeatable, in order; empty = the default Unix socket.
    public var listen: [ListenAddress] = []
    /// `--debug` raises this to `.debug`.
    public var verbosity = Verbosity.info
    /// `--isolate-host-loopback` sets this to false (`useHostLoopback`): fixed-output builds
    /// cannot reach the host's loopback.
    public var useHostLoopback = true
    /// `--system=SYSTEM`: `thisSystem`.
    public var system = DaemonConfiguration.hostSystem

    // MARK: Settings only clients (`set-options`) or internals change (§6.1, globals.cc)

    public var maxLogSize = 0
    public var pollInterval = 5
    public var reservedSpace = 8 * 1024 * 1024
    public var fsyncMetadata = true
    public var useSQLiteWAL = true
    public var syncBeforeRegistering = false
    public var envKeepDerivations = false
    public var gcCheckReachability = false
    public var tryFallback = false
    public var multiplexedBuildOutput = false

    // MARK: Environment switches (§6.3)

    /// `LISTEN_PID`/`LISTEN_FDS` when LISTEN_PID is this process: the inherited listening
    /// descriptors 3…3+N-1. Non-empty means `--listen` is ignored.
    public var activationDescriptors: [Int32] = []
    /// `NIX_IGNORE_SYMLINK_STORE=1`: skip the "store must not be a symlink" check.
    public var ignoreSymlinkStore = false
    /// `NIX_AFFINITY_HACK` (default "1"): read by guix-daemon into `lockCPU`, otherwise unused.
    public var lockCPU = true
    /// `GUIX_FORCE_SECCOMP` set and non-empty.
    public var forceSeccomp = false
    /// `http_proxy`, `https_proxy`: handed to fixed-output builders and substituters.
    public var httpProxy: String?
    public var httpsProxy: String?

    public init() {}

    /// The build-isolation mode the options select (§2, §3): a build group means the pool.
    public var mode: Mode { buildUsersGroup == nil ? .unprivileged : .pool }

    /// The Unix and TCP addresses to listen on when not socket-activated.
    public var effectiveListenAddresses: [ListenAddress] {
        listen.isEmpty ? [.unix(path: defaultSocketPath)] : listen
    }

    public enum Mode: String, Sendable, Equatable {
        /// Root daemon, builds run as members of `--build-users-group`.
        case pool
        /// No build group: each build gets its own user namespace (30001→daemon uid).
        case unprivileged
    }

    /// Build-log compression (`--log-compression`); guix-daemon's `CompressionType`.
    public enum LogCompression: String, Sendable, Equatable, CaseIterable {
        case none, gzip, bzip2
    }

    /// Message levels, as nix's `Verbosity` (lvlError … lvlVomit); the daemon starts at info.
    public enum Verbosity: Int, Sendable, Equatable, Comparable, CaseIterable {
        case error = 0, info, talkative, chatty, debug, vomit
        public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    }

    /// One `--listen` value: an absolute file name is a Unix socket (canonicalised), anything
    /// else is `HOST` or `HOST:PORT` split at the last colon, default port 44146.
    public enum ListenAddress: Sendable, Equatable, CustomStringConvertible {
        case unix(path: String)
        case tcp(host: String, port: String)

        /// guix-daemon.cc: DEFAULT_GUIX_PORT.
        public static let defaultPort = "44146"

        public init(parsing text: String) {
            if text.hasPrefix("/") {
                self = .unix(path: PathText.canonical(text))
            } else if let colon = text.lastIndex(of: ":") {
                self = .tcp(host: String(text[..<colon]), port: String(text[text.index(after: colon)...]))
            } else {
                self = .tcp(host: text, port: Self.defaultPort)
            }
        }

        public var description: String {
            switch self {
            case .unix(let path): return path
            case .tcp(let host, let port): return "\(host):\(port)"
            }
        }
    }

    /// The system type this build of Cloister runs natively (guix-daemon's configure-time SYSTEM).
    public static var hostSystem: String {
        #if arch(x86_64)
        return "x86_64-linux"
        #elseif arch(arm64)
        return "aarch64-linux"
        #elseif arch(i386)
        return "i686-linux"
        #elseif arch(arm)
        return "armhf-linux"
        #elseif arch(riscv64)
        return "riscv64-linux"
        #elseif arch(powerpc64le)
        return "powerpc64le-linux"
        #else
        return "unknown-linux"
        #endif
    }
}
