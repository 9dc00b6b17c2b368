/// What the daemon tells the administrator when it starts, rendered from the configuration:
/// guix-daemon's own startup messages (guix-daemon.cc:main — the socket-activation count, the
/// root-without-build-group warning, the `--debug` lines) in its order and words, then
/// Cloister's summary of the isolation mode, the store and the sockets, so a log shows at a
/// glance which of the two setups (guix-daemon.md §2, §3) is running.
public struct StartupMessage: Sendable, Equatable {
    /// Shown when the daemon's verbosity is at least this; `.error` means always.
    public let level: DaemonConfiguration.Verbosity
    public let text: String

    public init(_ level: DaemonConfiguration.Verbosity, _ text: String) {
        self.level = level
        self.text = text
    }
}

extension DaemonConfiguration {
    /// guix-daemon.cc: printed on stderr when euid is 0 and no build group is given.
    public static let rootWithoutBuildGroupWarning =
        "warning: daemon is running as root, so using `--build-users-group' is highly recommended"

    /// All startup messages, whatever the verbosity, for a daemon running with this effective uid.
    /// `includeListeners: false` leaves out the socket lines, for a caller whose listener logs
    /// each socket as it opens it.
    public func startupMessages(effectiveUserID: UInt32, includeListeners: Bool = true) -> [StartupMessage] {
        var messages: [StartupMessage] = []
        if includeListeners && !activationDescriptors.isEmpty {
            let count = activationDescriptors.count
            messages.append(.init(.info, "socket-activated with \(count) socket\(count == 1 ? "" : "s")"))
        }
        messages.append(.init(.debug, "build log compression: \(logCompression.rawValue)"))
        if effectiveUserID == 0 && buildUsersGroup == nil {
            messages.append(.init(.error, Self.rootWithoutBuildGroupWarning))
        }
        if useChroot {
            messages.append(.init(.debug, "extra chroot directories: '\(extraChrootDirectories.joined(separator: " "))'"))
        }
        messages.append(.init(.debug, "automatic deduplication set to \(autoOptimiseStore ? 1 : 0)"))

        messages.append(.init(.info, "cloister-daemon \(DaemonHelp.version): \(modeDescription(effectiveUserID: effectiveUserID))"))
        messages.append(.init(.info, "store \(storeDirectory), state \(stateDirectory), database \(databaseDirectory), logs \(logDirectory)"))
        if !includeListeners {
            // The listener reports the sockets itself.
        } else if activationDescriptors.isEmpty {
            for address in effectiveListenAddresses {
                switch address {
                case .unix(let path): messages.append(.init(.info, "listening on Unix socket \(path)"))
                case .tcp(let host, let port):
                    messages.append(.init(.info, "listening on '\(host)', port '\(port)' (TCP: unauthenticated, never trusted)"))
                }
            }
        } else {
            let fds = activationDescriptors.map(String.init).joined(separator: ", ")
            messages.append(.init(.info, "listening on inherited descriptor\(activationDescriptors.count == 1 ? "" : "s") \(fds); --listen ignored"))
        }
        messages.append(.init(.info, "system \(system), max jobs \(maxBuildJobs), cores \(buildCores == 0 ? "all" : String(buildCores)), substitutes \(useSubstitutes ? "on" : "off")"))
        return messages
    }

    /// The lines to print at this configuration's verbosity, each ending in a newline.
    public func startupLog(effectiveUserID: UInt32, includeListeners: Bool = true) -> String {
        startupMessages(effectiveUserID: effectiveUserID, includeListeners: includeListeners)
            .filter { $0.level <= verbosity }
            .map { $0.text + "\n" }
            .joined()
    }

    func modeDescription(effectiveUserID: UInt32) -> String {
        let chroot = useChroot ? "" : "; chroot disabled (--disable-chroot): builders can write to the whole store"
        switch mode {
        case .pool:
            return "build-user pool mode: builds run as members of group `\(buildUsersGroup ?? "")'" + chroot
        case .unprivileged where effectiveUserID == 0:
            return "running as root without a build-user pool: each build gets its own user namespace" + chroot
        case .unprivileged:
            return "unprivileged mode (uid \(effectiveUserID)): each build gets its own user namespace, as uid 30001" + chroot
        }
    }
}
