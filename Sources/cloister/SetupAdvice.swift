import LinuxSystem

/// Does an unprivileged user get a user namespace here? The unprivileged daemon clones every
/// build with CLONE_NEWUSER and fails with "clone: Operation not permitted" when it cannot
/// (guix-daemon.md §3), so setup looks before the administrator finds out from a failed build:
/// the three kernel switches that commonly forbid it, then a real `unshare --user` run as the
/// daemon's user.
struct UserNamespaceCheck {
    var working: Bool?
    var text: String

    static func run(user: String, host: SetupHost) -> UserNamespaceCheck {
        var problems: [String] = []
        if let value = sysctl("/proc/sys/kernel/unprivileged_userns_clone"), value == "0" {
            problems.append("""
                kernel.unprivileged_userns_clone is 0 (Debian's switch). Enable it now and at boot:
                      sysctl -w kernel.unprivileged_userns_clone=1
                      echo kernel.unprivileged_userns_clone=1 > /etc/sysctl.d/90-cloister-userns.conf
                """)
        }
        if let value = sysctl("/proc/sys/user/max_user_namespaces"), value == "0" {
            problems.append("""
                user.max_user_namespaces is 0. Allow them now and at boot:
                      sysctl -w user.max_user_namespaces=15000
                      echo user.max_user_namespaces=15000 > /etc/sysctl.d/90-cloister-userns.conf
                """)
        }
        if let value = sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"), value == "1" {
            problems.append("""
                AppArmor restricts unprivileged user namespaces (Ubuntu). Either allow them:
                      sysctl -w kernel.apparmor_restrict_unprivileged_userns=0
                    or give cloister-daemon an AppArmor profile with the `userns,' rule.
                """)
        }

        // The real thing: a user namespace with a mount namespace inside, as the daemon's user.
        var probe: String?
        var probeWorked: Bool?
        let asRoot = ProcessIdentity.effectiveUserID == 0
        let userExists = (try? UserAccount.named(user)) != nil
        if let unshare = Program.find("unshare", searchPath: host.searchPath) {
            var command: (String, [String])?
            if asRoot && userExists, let setpriv = Program.find("setpriv", searchPath: host.searchPath) {
                command = (setpriv, ["--reuid=\(user)", "--regid=\(user)", "--clear-groups", "--",
                                     unshare, "--user", "--map-root-user", "--mount", "true"])
                probe = "unshare --user --mount as \(user)"
            } else if !asRoot {
                command = (unshare, ["--user", "--map-root-user", "--mount", "true"])
                probe = "unshare --user --mount as uid \(ProcessIdentity.effectiveUserID)"
            }
            if let (program, arguments) = command {
                let attempt = probe ?? "unshare --user"
                do {
                    let result = try Program.run(program, arguments)
                    probeWorked = result.status.isSuccess
                    if !result.status.isSuccess { probe = attempt + " failed: \(result.diagnostic)" }
                } catch {
                    probe = attempt + " could not run: \(error)"
                }
            }
        }

        var lines: [String] = []
        switch (probeWorked, problems.isEmpty) {
        case (true?, _):
            lines.append("  user namespaces: working (\(probe ?? "checked"))")
        case (false?, _):
            lines.append("  user namespaces: NOT working — \(probe ?? "")")
        case (nil, true):
            lines.append("  user namespaces: kernel switches allow them (not tried: \(userExists ? "no setpriv/unshare" : "the user does not exist yet"))")
        case (nil, false):
            lines.append("  user namespaces: NOT available")
        }
        for problem in problems { lines.append("    - " + problem) }
        if probeWorked == false && problems.isEmpty {
            lines.append("    - check the kernel (CONFIG_USER_NS), seccomp or container policy of this machine;")
            lines.append("      without user namespaces use the build-user pool: cloister setup --build-users 4")
        }
        let working: Bool? = probeWorked ?? (problems.isEmpty ? nil : false)
        return UserNamespaceCheck(working: working, text: lines.joined(separator: "\n"))
    }

    /// The first word of a /proc/sys file; nil if it does not exist.
    static func sysctl(_ path: String) -> String? {
        guard let fd = try? FileDescriptor.open(path, .readOnly), let bytes = try? fd.readAll() else { return nil }
        return String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0 == "\n" || $0 == " " }).first.map(String.init)
    }
}

/// What the administrator does next, printed after the report.
enum SetupAdvice {
    static func pool(group: String, count: Int, paths: SetupPaths, dryRun: Bool) -> String {
        let options = "--build-users-group=\(group)"
        return """

            Next:
              Start the daemon (as root):
                cloister-daemon \(options)
              or at boot with systemd (`make install` puts the units in \(unitDirectory)):
                cp \(unitDirectory)/cloister-daemon.service /etc/systemd/system/
                systemctl daemon-reload && systemctl enable --now cloister-daemon.service
              or with Upstart: cp \(prefix)/lib/upstart/system/cloister-daemon.conf /etc/init/ && start cloister-daemon
              \(count) build user\(count == 1 ? "" : "s") = at most \(count) build\(count == 1 ? "" : "s") at once (keep --max-jobs at or below that).
              Clients (guix, nix-store) connect through \(paths.socket).
              Replacing guix-daemon: stop it, then start cloister-daemon with the same options.\(dryRun ? "\n  (dry run: nothing was changed)" : "")
            """
    }

    static func unprivileged(user: String, paths: SetupPaths, dryRun: Bool) -> String {
        """

        Next:
          With systemd (the store is bind-mounted read-only for everyone else):
            cp \(unitDirectory)/cloister-daemon-unprivileged.service /etc/systemd/system/
            cp \(unitDirectory)/gnu-store.mount /etc/systemd/system/
            systemctl daemon-reload && systemctl enable --now cloister-daemon-unprivileged.service gnu-store.mount
          or by hand, as \(user):
            setpriv --reuid=\(user) --regid=\(user) --init-groups cloister-daemon
          Give the daemon CAP_CHOWN (the unit does: AmbientCapabilities=CAP_CHOWN) so it can hand
          per-user profile directories to their owners.
          Clients (guix, nix-store) connect through \(paths.socket).\(dryRun ? "\n  (dry run: nothing was changed)" : "")
        """
    }

    /// Where `make install` put things: this executable's prefix (…/bin/cloister → …).
    static var prefix: String {
        guard let target = try? HostPath.readLink("/proc/self/exe") else { return "/usr/local" }
        let path = String(decoding: target, as: UTF8.self)
        let parts = path.split(separator: "/")
        guard parts.count >= 2, parts[parts.count - 2] == "bin" else { return "/usr/local" }
        return "/" + parts.dropLast(2).joined(separator: "/")
    }

    static var unitDirectory: String { prefix + "/lib/systemd/system" }
}
