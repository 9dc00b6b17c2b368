import StoreFormats

/// The settings that shape builds (guix-daemon.md §6.1 and the client's SetOptions, §7.5), as
/// one plain value. The daemon fills it from `DaemonConfiguration` and the client's options;
/// tests build it directly.
public struct BuildSettings: Sendable {
    /// Where build trees go (`$TMPDIR` of the daemon; canonicalised when used).
    public var temporaryDirectory: String = "/tmp"
    /// `--build-users-group`: nil selects user-namespace mode (§3).
    public var buildUsersGroup: String?
    /// `--cores` (NIX_BUILD_CORES; 0 = all).
    public var buildCores: Int = 0
    /// `--max-jobs`.
    public var maxBuildJobs: Int = 1
    /// `--timeout` in seconds; 0 = none.
    public var buildTimeout: Int = 86_400
    /// `--max-silent-time` in seconds; 0 = none.
    public var maxSilentTime: Int = 3_600
    /// `build-max-log-size` in bytes; 0 = unlimited.
    public var maxLogSize: Int = 0
    /// `--chroot-directory` entries, each `PATH` or `INSIDE=OUTSIDE`.
    public var extraChrootDirectories: [String] = []
    /// `--disable-chroot` turns this off (not supported by this builder yet: always chroot).
    public var useChroot = true
    /// `--rounds=N` stores N-1 (client: `build-repeat`): extra builds of each derivation,
    /// compared with the first.
    public var buildRepeat = 0
    /// `--cache-failures`: record failed outputs in FailedPaths.
    public var cacheFailures = false
    /// `--lose-logs` turns this off.
    public var keepLog = true
    public var logCompression: LogCompression = .gzip
    /// `--impersonate-linux-2.6`.
    public var impersonateLinux26 = false
    /// The platform this daemon builds for (`--system`).
    public var system: String = "x86_64-linux"
    /// Whose words build failures use: guix-daemon's, or Nix 2.8's for a Nix client.
    public var messageStyle: MessageStyle = .guix
    /// Nix's `system-features` (for Nix clients): a derivation builds here only if its
    /// `requiredSystemFeatures` are all among them. guix-daemon has no such check (nil).
    public var systemFeatures: Set<String>?
    /// `-K` (client option): keep the build tree of failed builds.
    public var keepFailed = false
    /// `--keep-going` (client option): go on with other derivations after a failure.
    public var keepGoing = false
    /// Emit `@ build-started/succeeded/failed` lines (client `printBuildTrace`).
    public var printBuildTrace = false
    /// `--disable-deduplication` turns this off.
    public var deduplicate = true
    /// The daemon's environment, read for fixed-output `impureEnvVars` (§1.8 step 4).
    public var daemonEnvironment: [String: String] = [:]
    /// The client's ids (-1 unknown): kept build trees are handed to them (§4.8).
    public var clientUID: Int64 = -1
    public var clientGID: Int64 = -1
    /// `/var/guix/userpool`; nil = `<stateDirectory>/userpool` of the store.
    public var userPoolDirectory: String?

    public init() {}
}

/// `--log-compression`.
public enum LogCompression: String, Sendable, CaseIterable {
    case none, gzip, bzip2

    /// File name suffix of a compressed log.
    public var suffix: String {
        switch self {
        case .none: ""
        case .gzip: ".gz"
        case .bzip2: ".bz2"
        }
    }
}

/// Build mode of BuildPaths/BuildDerivation (wire values 0, 1, 2).
public enum BuildMode: UInt64, Sendable {
    case normal = 0
    case repair = 1
    case check = 2
}
