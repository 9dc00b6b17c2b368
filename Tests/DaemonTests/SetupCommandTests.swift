import Glibc
import LinuxSystem
import Testing

/// `cloister setup`, run as the built executable. The root-only tests create real accounts with
/// test names (the seed's command lines with another group, prefix and user) and directories
/// under a temporary directory (through NIX_STORE_DIR & co.), run setup twice, and read
/// /etc/passwd and /etc/group to check every field; the accounts are removed afterwards.
@Suite(.serialized)
struct SetupCommandTests {
    static let group = "cloistertestbld"
    static let prefix = "cloistertestbld"
    static let daemonUser = "cloistertest-dmn"

    /// `<repo>/.build/debug/cloister`, or $CLOISTER_BIN_DIR/cloister.
    static var executable: String {
        if let directory = getenv("CLOISTER_BIN_DIR") { return String(cString: directory) + "/cloister" }
        var directory = String(#filePath)
        while let slash = directory.lastIndex(of: "/"), !directory.isEmpty {
            directory = String(directory[..<slash])
            if access(directory + "/Package.swift", F_OK) == 0 { break }
        }
        return directory + "/.build/debug/cloister"
    }

    static func run(_ arguments: [String], root: String) throws -> (status: LinuxSystem.ExitStatus, output: String) {
        var environment = ProcessEnvironment.current()
        environment["NIX_STORE_DIR"] = root + "/gnu/store"
        environment["GUIX_STATE_DIRECTORY"] = root + "/var/guix"
        environment["GUIX_LOG_DIRECTORY"] = root + "/var/log/guix"
        environment["GUIX_CONFIGURATION_DIRECTORY"] = root + "/etc/guix"
        let result = try Program.run(executable, ["setup"] + arguments, environment: environment)
        return (result.status, String(decoding: result.standardOutput + result.standardError, as: UTF8.self))
    }

    /// Lines of /etc/passwd or /etc/group whose first field is `name`, split on ':'.
    static func entry(_ file: String, _ name: String) throws -> [String]? {
        let bytes = try FileDescriptor.open(file, .readOnly).readAll()
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            if fields.first == name { return fields }
        }
        return nil
    }

    static func fileBytes(_ path: String) throws -> [UInt8] {
        try FileDescriptor.open(path, .readOnly).readAll()
    }

    static func removeAccounts() {
        for i in 1...3 { _ = try? Program.run("/usr/sbin/userdel", [prefix + "0\(i)"]) }
        _ = try? Program.run("/usr/sbin/userdel", [daemonUser])
        _ = try? Program.run("/usr/sbin/groupdel", [group])
        _ = try? Program.run("/usr/sbin/groupdel", [daemonUser])
    }

    static func temporaryRoot() throws -> String {
        var template = Array("/tmp/cloister-setup-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw SystemError("mkdtemp", errno: .current) }
        return String(cString: made)
    }

    @Test(.tags(.medium))
    func usageErrorsAreOneLine() throws {
        let root = try Self.temporaryRoot()
        defer { _ = try? Program.run("/bin/rm", ["-rf", root]) }
        for (arguments, message) in [
            ([String](), "say --build-users N"),
            (["--build-users", "0"], "--build-users wants a number from 1 to 999, not '0'"),
            (["--build-users=2", "--unprivileged"], "choose one of --build-users and --unprivileged"),
            (["--unprivileged", "--user", "Bad:Name"], "is not a usable account name"),
            (["--frobnicate"], "unknown option '--frobnicate'"),
        ] {
            let (status, output) = try Self.run(arguments, root: root)
            #expect(status == .exited(code: 1), "\(arguments)")
            #expect(output.hasPrefix("cloister: setup: "), "\(output)")
            #expect(output.contains(message), "\(output)")
            #expect(output.split(separator: "\n").count == 1)
        }
    }

    @Test(.tags(.medium))
    func dryRunShowsTheSeedsCommandsAndChangesNothing() throws {
        let root = try Self.temporaryRoot()
        defer { _ = try? Program.run("/bin/rm", ["-rf", root]) }
        let (status, output) = try Self.run(["--build-users", "3", "--group", "nosuchgrp", "--user-prefix", "nosuchbld", "--dry-run"], root: root)
        #expect(status.isSuccess)
        #expect(output.contains("group nosuchgrp: would be created — groupadd --system nosuchgrp"))
        #expect(output.contains("-g nosuchgrp -G nosuchgrp"))
        #expect(output.contains("-d /var/empty -s "))
        #expect(output.contains("-c 'Guix build user 02' --system nosuchbld02"))
        #expect(output.contains("\(root)/gnu/store: would be created, root:nosuchgrp 1775"))
        #expect(output.contains("cloister-daemon --build-users-group=nosuchgrp"))
        #expect(try HostPath.status(root + "/gnu") == nil)
        #expect(try Self.entry("/etc/group", "nosuchgrp") == nil)
    }

    @Test(.tags(.large), .enabled(if: geteuid() == 0))
    func poolSetupIsTheSeedsAndIdempotent() throws {
        Self.removeAccounts()
        defer { Self.removeAccounts() }
        let root = try Self.temporaryRoot()
        defer { _ = try? Program.run("/bin/rm", ["-rf", root]) }
        let arguments = ["--build-users", "3", "--group", Self.group, "--user-prefix", Self.prefix]

        let (status, first) = try Self.run(arguments, root: root)
        #expect(status.isSuccess, "\(first)")
        #expect(first.contains("group \(Self.group): created"))
        let group = try #require(try Self.entry("/etc/group", Self.group))
        #expect(group[3] == "\(Self.prefix)01,\(Self.prefix)02,\(Self.prefix)03")
        let nologin = Program.find("nologin", searchPath: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        for i in 1...3 {
            let user = try #require(try Self.entry("/etc/passwd", "\(Self.prefix)0\(i)"))
            #expect(user[3] == group[2], "primary group is the build group")
            #expect(user[4] == "Guix build user 0\(i)")
            #expect(user[5] == "/var/empty")
            #expect(user[6] == nologin)
            #expect(Int(user[2]).map { $0 < 1000 } == true, "a system account")
        }
        if let kvm = try Self.entry("/etc/group", "kvm") {
            #expect(kvm[3].split(separator: ",").contains("\(Self.prefix)01"))
        }
        let store = try #require(try HostPath.status(root + "/gnu/store"))
        #expect(store.owner == 0 && store.group == UInt32(group[2]) && store.permissions == 0o1775)
        for directory in ["/var/guix", "/var/guix/profiles/per-user", "/var/log/guix", "/etc/guix"] {
            let status = try #require(try HostPath.status(root + directory))
            #expect(status.owner == 0 && status.permissions == 0o755, "\(directory)")
        }

        // Second run: nothing changes, and it says so.
        let passwd = try Self.fileBytes("/etc/passwd"), groups = try Self.fileBytes("/etc/group")
        let (again, second) = try Self.run(arguments, root: root)
        #expect(again.isSuccess, "\(second)")
        #expect(!second.contains("created") && !second.contains("updated") && !second.contains("set to"), "\(second)")
        #expect(second.contains("user \(Self.prefix)02: exists"))
        #expect(try Self.fileBytes("/etc/passwd") == passwd)
        #expect(try Self.fileBytes("/etc/group") == groups)

        // Drift is repaired: a changed comment and mode are put back.
        _ = try Program.run("/usr/sbin/usermod", ["-c", "someone else", "\(Self.prefix)03"])
        chmod(root + "/gnu/store", 0o755)
        let (repaired, third) = try Self.run(arguments, root: root)
        #expect(repaired.isSuccess)
        #expect(third.contains("user \(Self.prefix)03: updated (comment)"), "\(third)")
        #expect(try Self.entry("/etc/passwd", "\(Self.prefix)03")?[4] == "Guix build user 03")
        #expect(try HostPath.status(root + "/gnu/store")?.permissions == 0o1775)
    }

    @Test(.tags(.large), .enabled(if: geteuid() == 0))
    func unprivilegedSetupIsTheSeedsAndIdempotent() throws {
        Self.removeAccounts()
        defer { Self.removeAccounts() }
        let root = try Self.temporaryRoot()
        defer { _ = try? Program.run("/bin/rm", ["-rf", root]) }
        // A store and state left by a root install: converted, root's own profiles kept root's.
        for directory in ["/gnu/store/abc-x", "/var/guix/profiles/per-user/root", "/var/guix/profiles/per-user/alice"] {
            _ = try Program.run("/bin/mkdir", ["-p", root + directory])
        }
        let arguments = ["--unprivileged", "--user", Self.daemonUser]
        let (status, first) = try Self.run(arguments, root: root)
        #expect(status.isSuccess, "\(first)")
        let user = try #require(try Self.entry("/etc/passwd", Self.daemonUser))
        let group = try #require(try Self.entry("/etc/group", Self.daemonUser))
        #expect(user[3] == group[2])
        #expect(user[4] == "Guix daemon privilege separation user")
        #expect(user[5] == "/var/empty")
        #expect(group[3].split(separator: ",").contains(Substring(Self.daemonUser)))
        let uid = try #require(UInt32(user[2])), gid = try #require(UInt32(group[2]))
        for directory in ["/gnu/store", "/gnu/store/abc-x", "/var/guix", "/var/guix/profiles/per-user/alice", "/var/log/guix", "/etc/guix"] {
            let status = try #require(try HostPath.status(root + directory), "\(directory)")
            #expect(status.owner == uid && status.group == gid, "\(directory)")
        }
        #expect(try HostPath.status(root + "/var/guix/profiles/per-user/root")?.owner == 0)
        #expect(first.contains("user namespaces: "))

        let passwd = try Self.fileBytes("/etc/passwd")
        let (again, second) = try Self.run(arguments, root: root)
        #expect(again.isSuccess, "\(second)")
        #expect(!second.contains("created") && !second.contains("given"), "\(second)")
        #expect(try Self.fileBytes("/etc/passwd") == passwd)
    }

    @Test(.tags(.medium))
    func programRunCapturesBothStreamsAndStatus() throws {
        let result = try Program.run("/bin/sh", ["-c", "echo out; echo err >&2; head -c 100000 /dev/zero; exit 3"])
        #expect(result.status == .exited(code: 3))
        #expect(result.standardOutput.prefix(4) == Array("out\n".utf8)[...])
        #expect(result.standardOutput.count == 4 + 100_000)
        #expect(result.standardError == Array("err\n".utf8))
        #expect(result.diagnostic == "err")
        let environment = try Program.run("/bin/sh", ["-c", "printf %s \"$X\""], environment: ["X": "a b"])
        #expect(environment.standardOutput == Array("a b".utf8))
        #expect(throws: SystemError.self) { try Program.run("/nonexistent/program", []) }
        #expect(Program.find("sh", searchPath: "/nonexistent:/bin") == "/bin/sh")
        #expect(Program.find("sh", searchPath: "relative:/nonexistent") == nil)
    }

    @Test(.tags(.medium))
    func programStartRunsInTheBackgroundAndLogs() throws {
        let root = try Self.temporaryRoot()
        defer { _ = try? Program.run("/bin/rm", ["-rf", root]) }
        let handle = try Program.start("/bin/sh", ["-c", "echo started; echo oops >&2; exec sleep 30"], logPath: root + "/log")
        #expect(try handle.poll() == nil)
        var log = ""
        for _ in 0..<200 where !log.contains("oops") {
            usleep(10_000)
            log = String(decoding: try FileDescriptor.open(root + "/log", .readOnly).readAll(), as: UTF8.self)
        }
        #expect(log == "started\noops\n")
        try handle.signal(SIGTERM)
        #expect(try handle.wait() == .signaled(signal: SIGTERM, coreDumped: false))
    }
}
