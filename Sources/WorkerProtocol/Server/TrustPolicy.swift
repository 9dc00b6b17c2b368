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

    /// Effective settings plus notes for the client (Nix 2.8 logs them at debug level).
    static func filter(_ options: ClientOptions, client: ClientIdentity, dialect: Dialect) -> (ClientOptions, [ClientOptions.Setting], [String]) {
        var options = options
        if client.remote, !options.integers.isEmpty { options.integers[0] = 0 }   // keepFailed off for TCP
        if client.trusted { return (options, options.overrides, []) }
        var settings: [ClientOptions.Setting] = []
        var warnings: [String] = []
        for setting in options.overrides {
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
                } else {
                    warnings.append("ignoring the client-specified setting '\(setting.name)', because it is a restricted setting and you are not a trusted user")
                }
            }
        }
        return (options, settings, warnings)
    }

    static let repairRefused = StoreServiceError(.repairRefused)
    static let verifyRepairRefused = StoreServiceError("you are not privileged to repair paths")
    static let ignoreLivenessRefused = StoreServiceError("you are not allowed to ignore liveness")
    static let remoteGCRefused = StoreServiceError("Garbage collection is disabled for remote hosts.")
    static let addSignaturesRefused = StoreServiceError("you are not privileged to add signatures")
    static let addBuildLogRefused = StoreServiceError("you are not privileged to add logs")
    static let inputAddressedBuildRefused = StoreServiceError("you are not privileged to build input-addressed derivations")
}
