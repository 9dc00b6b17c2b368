/// The trust rules of both daemons (formats.md §6.8, guix-daemon.md §7.5, security.md P-8).
/// Messages are the daemons' own wording, so clients and scripts see what they expect.
enum TrustPolicy {
    /// Settings any client may set (Guix nix-daemon.cc `performOp` wopSetOptions whitelist).
    static let guixUntrustedWhitelist: Set<String> = [
        "build-timeout", "build-max-silent-time", "build-max-jobs", "build-cores", "build-repeat",
        "multiplexed-build-output", "build-max-log-size", "user-name",
    ]
    /// Settings Nix 2.8 applies for untrusted clients (daemon.cc: "timeout"/"max-silent-time"
    /// and friends are not restricted); other names are ignored with a warning. Plus Guix's
    /// `multiplexed-build-output`, which no Nix client sends: `cloister build` speaks this
    /// dialect and asks for it to tell concurrent builds' output apart.
    static let nixUntrustedWhitelist: Set<String> = [
        "build-timeout", "timeout", "build-repeat", "repeat", "connect-timeout", "max-silent-time",
        "build-max-silent-time", "multiplexed-build-output",
    ]

    /// What Nix 2.8 tells an untrusted client about the settings it did not take
    /// (daemon.cc ClientSettings::apply), at the level it says it.
    enum SettingNote: Equatable {
        /// A restricted setting, ignored (debug level).
        case refused(String)
        /// A `substituters` URL the daemon does not use itself (a warning, coloured as Nix's).
        case untrustedSubstituter(String)

        var level: Verbosity {
            switch self {
            case .refused: .debug
            case .untrustedSubstituter: .warn
            }
        }

        var text: String {
            switch self {
            case .refused(let name):
                "ignoring the client-specified setting '\(name)', because it is a restricted setting and you are not a trusted user"
            case .untrustedSubstituter(let url): "\u{1b}[35;1mwarning:\u{1b}[0m ignoring untrusted substituter '\(url)'"
            }
        }
    }

    /// Nix 2.8 lets an untrusted client choose among the daemon's own substituters (a URL may
    /// drop its trailing slash); the others are noted.
    static func substituters(_ value: String, daemon: [String]) -> (kept: [String], notes: [SettingNote]) {
        var kept: [String] = [], notes: [SettingNote] = []
        for url in value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init) {
            if daemon.contains(url) { kept.append(url) }
            else if !url.hasSuffix("/") && daemon.contains(url + "/") { kept.append(url + "/") }
            else { notes.append(.untrustedSubstituter(url)) }
        }
        return (kept, notes)
    }

    /// Effective settings plus notes for the client; `daemonSubstituters` are the URLs an
    /// untrusted Nix client may pick.
    static func filter(_ options: ClientOptions, client: ClientIdentity, dialect: Dialect,
                       daemonSubstituters: [String]) -> (ClientOptions, [ClientOptions.Setting], [SettingNote]) {
        var options = options
        if client.remote, !options.integers.isEmpty { options.integers[0] = 0 }   // keepFailed off for TCP
        if client.trusted { return (options, options.overrides, []) }
        var settings: [ClientOptions.Setting] = []
        var notes: [SettingNote] = []
        // Nix 2.8 keeps the overrides in a std::map, so it goes through them by name.
        let overrides = dialect == .nix ? options.overrides.sorted { $0.name < $1.name } : options.overrides
        for setting in overrides {
            switch dialect {
            case .guix:
                if guixUntrustedWhitelist.contains(setting.name) {
                    settings.append(setting)
                } else {
                    settings.append(ClientOptions.Setting("untrusted-" + setting.name, setting.value))
                }
            case .nix:
                if nixUntrustedWhitelist.contains(setting.name) || (setting.name == "builders" && setting.value.isEmpty) {
                    settings.append(setting)
                } else if setting.name == "substituters" || setting.name == "binary-caches" {
                    let (kept, refused) = substituters(setting.value, daemon: daemonSubstituters)
                    settings.append(ClientOptions.Setting(setting.name, kept.joined(separator: " ")))
                    notes += refused
                } else {
                    notes.append(.refused(setting.name))
                }
            }
        }
        return (options, settings, notes)
    }

    static let repairRefused = StoreServiceError(.repairRefused)
    static let verifyRepairRefused = StoreServiceError("you are not privileged to repair paths")
    static let ignoreLivenessRefused = StoreServiceError("you are not allowed to ignore liveness")
    static let remoteGCRefused = StoreServiceError("Garbage collection is disabled for remote hosts.")
    static let addSignaturesRefused = StoreServiceError("you are not privileged to add signatures")
    static let addBuildLogRefused = StoreServiceError("you are not privileged to add logs")
    static let inputAddressedBuildRefused = StoreServiceError("you are not privileged to build input-addressed derivations")
}
