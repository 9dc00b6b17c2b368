import LinuxSystem

/// `cloister setup`: prepares a machine for `cloister-daemon` the way the Guix manual's "Build
/// Environment Setup" says to prepare it for guix-daemon, in either of its two modes:
///
/// - `--build-users N [--group guixbuild]`: the daemon runs as root and builds as members of a
///   pool — `groupadd --system guixbuild`, then for each NN `useradd -g guixbuild -G
///   guixbuild[,kvm] -d /var/empty -s $(which nologin) -c "Guix build user NN" --system
///   guixbuilderNN`; the store `root:guixbuild` mode 1775, state and log directories root's.
/// - `--unprivileged [--user guix-daemon]`: the daemon runs as one system user —
///   `groupadd --system guix-daemon`, `useradd -g guix-daemon -G guix-daemon[,kvm] -d /var/empty
///   -s $(which nologin) -c "Guix daemon privilege separation user" --system guix-daemon`; the
///   store, state, log and configuration directories owned by it (converted with `chown -R` the
///   first time, root's own profiles given back), and a check that unprivileged user namespaces
///   work for that user.
///
/// Idempotent: everything is looked at first and only what differs is changed, so a second run
/// changes nothing and says so. Directories follow NIX_STORE_DIR / GUIX_STATE_DIRECTORY /
/// GUIX_LOG_DIRECTORY / GUIX_CONFIGURATION_DIRECTORY, as the daemon does.
enum SetupCommand {
    static let usage = """
        Usage: cloister setup --build-users N [--group NAME] [--user-prefix PREFIX] [--dry-run]
               cloister setup --unprivileged [--user NAME] [--dry-run]
        Prepare this machine for cloister-daemon (as root). Safe to run again.

          --build-users=N       root daemon with a pool of N build users (01…N), members of
                                the build group; N limits how many builds run at once
          --group=NAME          the build group (default guixbuild)
          --user-prefix=PREFIX  build user names are PREFIX01… (default guixbuilder)
          --unprivileged        daemon runs as one unprivileged user; builds use user namespaces
          --user=NAME           that user and its group (default guix-daemon)
          --dry-run             show what would be done, change nothing (no root needed)
          -h, --help            this text

        Directories: the store (NIX_STORE_DIR, default /gnu/store), state (GUIX_STATE_DIRECTORY,
        /var/guix), logs (GUIX_LOG_DIRECTORY, /var/log/guix), configuration
        (GUIX_CONFIGURATION_DIRECTORY, /etc/guix).
        """

    enum Mode: Equatable {
        case pool(count: Int, group: String, userPrefix: String)
        case unprivileged(user: String)
    }

    static func run(_ arguments: [String]) throws -> Int32 {
        var buildUsers: Int?
        var group = "guixbuild"
        var prefix = "guixbuilder"
        var unprivileged = false
        var user = "guix-daemon"
        var dryRun = false
        var iterator = OptionIterator(arguments, valued: ["--build-users", "--group", "--user-prefix", "--user"])
        while let option = try iterator.next() {
            switch option {
            case .flag("-h"), .flag("--help"):
                print(usage)
                return 0
            case .value("--build-users", let v):
                guard let n = Int(v), (1...999).contains(n) else {
                    throw UsageError("--build-users wants a number from 1 to 999, not '\(v)'")
                }
                buildUsers = n
            case .value("--group", let v): group = try accountName(v, "--group")
            case .value("--user-prefix", let v): prefix = try accountName(v, "--user-prefix")
            case .value("--user", let v): user = try accountName(v, "--user")
            case .flag("--unprivileged"): unprivileged = true
            case .flag("--dry-run"): dryRun = true
            case .flag(let f): throw UsageError("unknown option '\(f)'; try 'cloister setup --help'")
            case .value(let o, _): throw UsageError("unknown option '\(o)'; try 'cloister setup --help'")
            case .positional(let p): throw UsageError("unexpected argument '\(p)'; try 'cloister setup --help'")
            }
        }
        let mode: Mode
        switch (buildUsers, unprivileged) {
        case (let n?, false): mode = .pool(count: n, group: group, userPrefix: prefix)
        case (nil, true): mode = .unprivileged(user: user)
        case (_?, true): throw UsageError("choose one of --build-users and --unprivileged")
        case (nil, false): throw UsageError("say --build-users N (root daemon) or --unprivileged; try 'cloister setup --help'")
        }
        if !dryRun && ProcessIdentity.effectiveUserID != 0 {
            throw UsageError("must run as root to create accounts and directories (--dry-run shows what it would do)")
        }
        var host = SetupHost(dryRun: dryRun, environment: ProcessEnvironment.current())
        let paths = try SetupPaths(environment: host.environment)
        switch mode {
        case .pool(let count, let group, let prefix):
            print("cloister setup: build-user pool — the daemon runs as root, builds run as \(prefix)01…\(BuildUserNames.number(count, of: count)) (group \(group))\(dryRun ? " [dry run]" : "")")
            try host.setUpPool(count: count, group: group, prefix: prefix, paths: paths)
            print(host.report.joined(separator: "\n"))
            print(SetupAdvice.pool(group: group, count: count, paths: paths, dryRun: dryRun))
        case .unprivileged(let user):
            print("cloister setup: unprivileged — the daemon runs as \(user), builds in user namespaces\(dryRun ? " [dry run]" : "")")
            try host.setUpUnprivileged(user: user, paths: paths)
            print(host.report.joined(separator: "\n"))
            let namespaces = UserNamespaceCheck.run(user: user, host: host)
            print(namespaces.text)
            print(SetupAdvice.unprivileged(user: user, paths: paths, dryRun: dryRun))
        }
        return 0
    }

    /// shadow's rule for names, roughly: lower-case letters, digits, `_`, `-`, not starting
    /// with `-`, at most 32 bytes (a prefix leaves room for two or three digits).
    static func accountName(_ name: String, _ option: String) throws -> String {
        let allowed = name.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 || $0 == 45 }
        guard !name.isEmpty, name.utf8.count <= 29, allowed, name.first != "-" else {
            throw UsageError("\(option): '\(name)' is not a usable account name (a-z, 0-9, '_', '-', at most 29 characters)")
        }
        return name
    }
}

/// guix-install.sh numbers build users with `seq -w`, at least two digits: guixbuilder01.
enum BuildUserNames {
    static func number(_ i: Int, of count: Int) -> String {
        let width = max(2, String(count).count)
        let digits = String(i)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}

/// The four directories, from the same environment variables the daemon reads.
struct SetupPaths {
    let store: String
    let state: String
    let log: String
    let configuration: String

    init(environment: [String: String]) throws {
        func absolute(_ name: String, _ fallback: String) throws -> String {
            let value = environment[name] ?? fallback
            guard value.hasPrefix("/") else { throw UsageError("\(name) must be an absolute path, not '\(value)'") }
            let parts = value.split(separator: "/").filter { $0 != "." }
            guard !parts.contains("..") else { throw UsageError("\(name) must not contain '..': '\(value)'") }
            return "/" + parts.joined(separator: "/")
        }
        store = try absolute("NIX_STORE_DIR", environment["NIX_STORE"] ?? "/gnu/store")
        state = try absolute("GUIX_STATE_DIRECTORY", "/var/guix")
        log = try absolute("GUIX_LOG_DIRECTORY", "/var/log/guix")
        configuration = try absolute("GUIX_CONFIGURATION_DIRECTORY", "/etc/guix")
        guard store != "/" else { throw UsageError("the store cannot be /") }
    }

    var socket: String { state + "/daemon-socket/socket" }
}
