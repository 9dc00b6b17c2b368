import LinuxSystem

/// The changes `cloister setup` makes, each preceded by a look at what is already there: an
/// account or directory that is already right is reported as such and left alone, so running
/// setup twice changes nothing the second time. Accounts are made by shadow's own tools
/// (`groupadd`, `useradd`, `usermod`), exactly the seed's command lines, so /etc/passwd,
/// /etc/shadow, /etc/group and /etc/gshadow stay consistent and locked as those tools do it.
struct SetupHost {
    let dryRun: Bool
    let environment: [String: String]
    /// One line per account or directory, in order.
    private(set) var report: [String] = []
    /// The PATH used to find groupadd & co: the caller's, then the usual system directories
    /// (sudo and cron often give root a PATH without /usr/sbin).
    let searchPath: String

    init(dryRun: Bool, environment: [String: String]) {
        self.dryRun = dryRun
        self.environment = environment
        self.searchPath = (environment["PATH"].map { $0 + ":" } ?? "") + "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    }

    // MARK: Modes

    mutating func setUpPool(count: Int, group: String, prefix: String, paths: SetupPaths) throws {
        let buildGroup = try ensureGroup(group)
        let kvm = try GroupAccount.named("kvm")
        for i in 1...count {
            let number = BuildUserNames.number(i, of: count)
            try ensureUser(prefix + number, group: group, groupID: buildGroup?.gid,
                           kvm: kvm, comment: "Guix build user \(number)")
        }
        // Store: root:G 01775 — builders (members of G) may create their output there, the
        // sticky bit keeps them from removing anything they do not own (guix-daemon.md §2).
        let gid = try GroupAccount.named(group)?.gid
        try ensureDirectory(paths.store, owner: 0, group: gid, groupName: group, mode: 0o1775)
        try ensureDirectory(paths.state, owner: 0, group: 0, groupName: "root", mode: 0o755)
        try ensureDirectory(paths.state + "/profiles/per-user", owner: 0, group: 0, groupName: "root", mode: 0o755)
        try ensureDirectory(paths.state + "/daemon-socket", owner: 0, group: 0, groupName: "root", mode: 0o755)
        try ensureDirectory(paths.log, owner: 0, group: 0, groupName: "root", mode: 0o755)
        try ensureDirectory(paths.configuration, owner: 0, group: 0, groupName: "root", mode: 0o755)
    }

    mutating func setUpUnprivileged(user: String, paths: SetupPaths) throws {
        let group = try ensureGroup(user)
        let kvm = try GroupAccount.named("kvm")
        try ensureUser(user, group: user, groupID: group?.gid, kvm: kvm,
                       comment: "Guix daemon privilege separation user")
        let account = try UserAccount.named(user)
        let uid = account?.uid
        let gid = try GroupAccount.named(user)?.gid
        // guix-install.sh: `chown -R guix-daemon:guix-daemon /gnu /var/guix`, root's profiles
        // back to root, and /var/log/guix made for the daemon, which cannot create it itself.
        for directory in [paths.store, paths.state, paths.log, paths.configuration] {
            try ensureOwnedTree(directory, user: user, uid: uid, gid: gid)
        }
        let rootProfiles = paths.state + "/profiles/per-user/root"
        if let status = try HostPath.status(rootProfiles), status.owner != 0 {
            try execute("chown", ["-R", "--no-dereference", "root:root", rootProfiles],
                        subject: rootProfiles, verb: "given back to root")
        }
    }

    // MARK: Accounts

    /// `groupadd --system NAME` unless the group exists.
    mutating func ensureGroup(_ name: String) throws -> GroupAccount? {
        if let existing = try GroupAccount.named(name) {
            report.append("  group \(name): exists (gid \(existing.gid))")
            return existing
        }
        try execute("groupadd", ["--system", name], subject: "group \(name)", verb: "created")
        return try GroupAccount.named(name)
    }

    /// The seed's `useradd` line for a missing account; for an existing one, `usermod` with the
    /// same fields only if one of them differs (as guix-install.sh's create_account resets them).
    mutating func ensureUser(_ name: String, group: String, groupID: UInt32?, kvm: GroupAccount?, comment: String) throws {
        let nologin = Program.find("nologin", searchPath: searchPath) ?? "/usr/sbin/nologin"
        let supplementary = kvm == nil ? group : group + ",kvm"
        let fields = ["-g", group, "-G", supplementary, "-d", "/var/empty", "-s", nologin, "-c", comment]
        guard let existing = try UserAccount.named(name) else {
            try execute("useradd", fields + ["--system", name], subject: "user \(name)", verb: "created")
            if let created = try UserAccount.named(name) {
                replaceLast(with: "  user \(name): created (uid \(created.uid))")
            }
            return
        }
        var differences: [String] = []
        if let groupID, existing.gid != groupID { differences.append("primary group") }
        if try !(GroupAccount.named(group)?.members.contains(name) ?? false) { differences.append("member of \(group)") }
        if let kvm, !kvm.members.contains(name) { differences.append("member of kvm") }
        if existing.home != "/var/empty" { differences.append("home") }
        if existing.shell != nologin { differences.append("shell") }
        if existing.comment != comment { differences.append("comment") }
        if differences.isEmpty {
            report.append("  user \(name): exists (uid \(existing.uid))")
        } else {
            try execute("usermod", fields + [name], subject: "user \(name)",
                        verb: "updated (\(differences.joined(separator: ", ")))")
        }
    }

    // MARK: Directories

    /// Creates `path` (and missing parents, root 0755) and gives it the owner and mode.
    mutating func ensureDirectory(_ path: String, owner: UInt32, group: UInt32?, groupName: String, mode: UInt32) throws {
        let shown = "\(owner == 0 ? "root" : String(owner)):\(groupName) \(String(mode, radix: 8))"
        guard let status = try HostPath.status(path) else {
            if dryRun {
                report.append("  \(path): would be created, \(shown)")
                return
            }
            try makeParents(of: path)
            try FileDescriptor.currentDirectory.makeDirectory(at: Array(path.utf8), mode: 0o700)
            try apply(path, owner: owner, group: group ?? 0, mode: mode)
            report.append("  \(path): created, \(shown)")
            return
        }
        guard status.type == .directory else {
            throw UsageError("\(path) exists but is not a directory\(status.type == .symlink ? " (a symlink; the daemon refuses a symlinked store unless NIX_IGNORE_SYMLINK_STORE=1)" : "")")
        }
        // No group id yet: only in a dry run, before the group exists.
        let wantGroup = group ?? status.group
        if group != nil && status.owner == owner && status.group == wantGroup && status.permissions == mode {
            report.append("  \(path): already \(shown)")
            return
        }
        if dryRun {
            report.append("  \(path): would be set to \(shown) (now \(status.owner):\(status.group) \(String(status.permissions, radix: 8)))")
            return
        }
        try apply(path, owner: owner, group: wantGroup, mode: mode)
        report.append("  \(path): set to \(shown) (was \(status.owner):\(status.group) \(String(status.permissions, radix: 8)))")
    }

    /// Unprivileged mode: the directory and everything in it belong to the daemon's user.
    /// Only the top is looked at: once it is the user's, the tree was converted before.
    mutating func ensureOwnedTree(_ path: String, user: String, uid: UInt32?, gid: UInt32?) throws {
        guard let status = try HostPath.status(path) else {
            if dryRun || uid == nil || gid == nil {
                report.append("  \(path): would be created, \(user):\(user) 755")
                return
            }
            try makeParents(of: path)
            try FileDescriptor.currentDirectory.makeDirectory(at: Array(path.utf8), mode: 0o700)
            try apply(path, owner: uid ?? 0, group: gid ?? 0, mode: 0o755)
            report.append("  \(path): created, \(user):\(user) 755")
            return
        }
        guard status.type == .directory else { throw UsageError("\(path) exists but is not a directory") }
        if let uid, let gid, status.owner == uid, status.group == gid {
            report.append("  \(path): already \(user):\(user) \(String(status.permissions, radix: 8))")
            return
        }
        try execute("chown", ["-R", "--no-dereference", "\(user):\(user)", path], subject: path,
                    verb: "given to \(user):\(user), recursively (was \(status.owner):\(status.group))")
    }

    private func makeParents(of path: String) throws {
        var prefix = ""
        for component in path.split(separator: "/").dropLast() {
            prefix += "/" + component
            if try HostPath.status(prefix) == nil {
                try FileDescriptor.currentDirectory.makeDirectory(at: Array(prefix.utf8), mode: 0o755)
                try FileDescriptor.currentDirectory.changeMode(at: Array(prefix.utf8), 0o755)
            }
        }
    }

    private func apply(_ path: String, owner: UInt32, group: UInt32, mode: UInt32) throws {
        let name = Array(path.utf8)
        // Owner first: chown clears the set-id bits, so the mode is set last.
        try FileDescriptor.currentDirectory.changeOwner(at: name, owner, group)
        try FileDescriptor.currentDirectory.changeMode(at: name, mode)
    }

    // MARK: Running the tools

    /// Runs `tool` (found in PATH or the system directories) unless this is a dry run; the
    /// report shows the command line either way.
    mutating func execute(_ tool: String, _ arguments: [String], subject: String, verb: String) throws {
        let line = ([tool] + arguments).map(Self.shellQuoted).joined(separator: " ")
        if dryRun {
            report.append("  \(subject): would be \(verb) — \(line)")
            return
        }
        guard let executable = Program.find(tool, searchPath: searchPath) else {
            throw UsageError("cannot find '\(tool)' (Debian: apt install passwd coreutils)")
        }
        let result = try Program.run(executable, arguments)
        guard result.status.isSuccess else {
            throw UsageError("\(line) failed (\(result.status)): \(result.diagnostic)")
        }
        report.append("  \(subject): \(verb) — \(line)")
    }

    private mutating func replaceLast(with line: String) {
        guard !report.isEmpty, !dryRun else { return }
        let command = report[report.count - 1].split(separator: "—", maxSplits: 1).last.map { " —" + $0 } ?? ""
        report[report.count - 1] = line + command
    }

    static func shellQuoted(_ word: String) -> String {
        let plain = word.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) || "-_./:=,+".utf8.contains($0) }
        if plain && !word.isEmpty { return word }
        return "'" + word.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
    }
}
