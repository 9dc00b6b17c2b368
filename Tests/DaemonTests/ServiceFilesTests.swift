import Glibc
import LinuxSystem
import Testing
@testable import Daemon

/// The service files under etc/ as `make install` installs them (scripts/install): PREFIX and
/// DESTDIR honoured, @bindir@ replaced, `systemd-analyze verify` accepting every unit (against
/// an installed copy whose ExecStart programs exist), and every daemon command line in them
/// accepted by cloister-daemon's own option parser.
@Suite(.serialized, .tags(.large))
struct ServiceFilesTests {
    static var repository: String {
        var directory = String(#filePath)
        while let slash = directory.lastIndex(of: "/"), !directory.isEmpty {
            directory = String(directory[..<slash])
            if access(directory + "/Package.swift", F_OK) == 0 { break }
        }
        return directory
    }

    static let units = ["cloister-daemon.service", "cloister-daemon-unprivileged.service", "gnu-store.mount",
                        "cloister-daemon.socket", "cloister-daemon-unprivileged.socket",
                        "cloister-gc.service", "cloister-gc.timer"]

    static func temporaryDirectory() throws -> String {
        var template = Array("/tmp/cloister-install-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw SystemError("mkdtemp", errno: .current) }
        return String(cString: made)
    }

    /// Runs scripts/install with the debug executables standing in for the release ones.
    static func install(prefix: String, destination: String) throws -> ProgramResult {
        var environment = ProcessEnvironment.current()
        environment["PREFIX"] = prefix
        environment["DESTDIR"] = destination
        environment["BUILD_DIR"] = repository + "/.build/debug"
        return try Program.run("/bin/bash", [repository + "/scripts/install"], environment: environment)
    }

    static func text(_ path: String) throws -> String {
        String(decoding: try FileDescriptor.open(path, .readOnly).readAll(), as: UTF8.self)
    }

    @Test func installHonoursPrefixAndDestdir() throws {
        let staging = try Self.temporaryDirectory()
        defer { _ = try? Program.run("/bin/rm", ["-rf", staging]) }
        let result = try Self.install(prefix: "/opt/cloister", destination: staging)
        #expect(result.status.isSuccess, "\(result.diagnostic)")
        for program in ["cloister", "cloister-daemon"] {
            let status = try #require(try HostPath.status("\(staging)/opt/cloister/bin/\(program)"))
            #expect(status.permissions == 0o755)
        }
        for unit in Self.units {
            let contents = try Self.text("\(staging)/opt/cloister/lib/systemd/system/\(unit)")
            #expect(!contents.contains("@bindir@"), "\(unit)")
            #expect(!contents.contains(staging), "DESTDIR leaked into \(unit)")
        }
        let service = try Self.text("\(staging)/opt/cloister/lib/systemd/system/cloister-daemon.service")
        #expect(service.contains("ExecStart=/opt/cloister/bin/cloister-daemon --build-users-group=guixbuild"))
        let upstart = try Self.text("\(staging)/opt/cloister/lib/upstart/system/cloister-daemon.conf")
        #expect(upstart.contains("exec /opt/cloister/bin/cloister-daemon --build-users-group=guixbuild"))
        #expect(upstart.contains("start on runlevel [2345]"))
        // A relative PREFIX is refused.
        #expect(try !Self.install(prefix: "relative", destination: staging).status.isSuccess)
    }

    @Test func systemdAnalyzeVerifiesEveryUnit() throws {
        let verify = try #require(Program.find("systemd-analyze", searchPath: "/usr/bin:/bin"),
                                  "systemd-analyze missing (Debian package systemd)")
        let root = try Self.temporaryDirectory()
        defer { _ = try? Program.run("/bin/rm", ["-rf", root]) }
        // Installed for real under a temporary PREFIX, so every ExecStart names an existing program.
        let installed = try Self.install(prefix: root + "/prefix", destination: "")
        #expect(installed.status.isSuccess, "\(installed.diagnostic)")
        let directory = root + "/prefix/lib/systemd/system"
        let paths = Self.units.map { directory + "/" + $0 }
        let result = try Program.run(verify, ["verify"] + paths)
        #expect(result.status.isSuccess, "\(result.diagnostic)")
        #expect(result.standardError.isEmpty, "warnings: \(result.diagnostic)")

        // And verify does catch a unit whose program is missing.
        let broken = directory + "/cloister-daemon.service"
        let fixed = try Self.text(broken)
        let descriptor = try FileDescriptor.open(broken, [.writeOnly, .truncate])
        try descriptor.writeAll(Array(fixed.replacing(root + "/prefix/bin", with: "/nonexistent").utf8))
        try descriptor.close()
        #expect(try !Program.run(verify, ["verify", broken]).status.isSuccess)
    }

    /// ExecStart= (systemd, with `\` continuation lines) and `exec` (Upstart) command lines, split
    /// as a shell would for single quotes; each must parse as cloister-daemon's options.
    @Test func everyDaemonCommandLineParses() throws {
        var found = 0
        for file in ["etc/systemd/cloister-daemon.service.in", "etc/systemd/cloister-daemon-unprivileged.service.in",
                     "etc/init/cloister-daemon.conf.in"] {
            let contents = try Self.text(Self.repository + "/" + file).replacing("\\\n", with: " ")
            for line in contents.split(separator: "\n") where line.hasPrefix("ExecStart=") || line.hasPrefix("exec ") {
                let command = line.hasPrefix("exec ") ? line.dropFirst(5) : line.dropFirst(10)
                let words = Self.shellWords(String(command))
                #expect(words.first == "@bindir@/cloister-daemon", "\(file)")
                guard case .run(let configuration) = DaemonCommandLine.parse(words) else {
                    Issue.record("\(file): \(words) rejected by the parser")
                    continue
                }
                #expect(configuration.substituteURLs == ["https://bordeaux.guix.gnu.org", "https://ci.guix.gnu.org"])
                #expect(!configuration.discover)
                #expect((configuration.buildUsersGroup == "guixbuild") == !file.contains("unprivileged"), "\(file)")
                found += 1
            }
        }
        #expect(found == 3)
    }

    static func shellWords(_ text: String) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false, quoted = false
        for character in text {
            if character == "'" {
                quoted.toggle()
                inWord = true
            } else if !quoted && (character == " " || character == "\t") {
                if inWord { words.append(current) }
                current = ""
                inWord = false
            } else {
                current.append(character)
                inWord = true
            }
        }
        if inWord { words.append(current) }
        return words
    }
}
