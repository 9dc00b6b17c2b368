import Testing
@testable import Daemon

/// The environment variables of guix-daemon.md §6.3 and the paths of §6.2 derived from them.
@Suite(.tags(.small))
struct OptionsEnvironmentTests {
    func configuration(_ environment: [String: String], _ arguments: [String] = [], pid: Int32 = 4242) -> DaemonConfiguration? {
        guard case .run(let c) = DaemonCommandLine.parse(["cloister-daemon"] + arguments, environment: environment, processID: pid) else {
            return nil
        }
        return c
    }

    @Test func storeDirectoryFromNixStoreDirThenNixStore() throws {
        #expect(configuration(["NIX_STORE_DIR": "/tmp/s//store/"])?.storeDirectory == "/tmp/s/store")
        #expect(configuration(["NIX_STORE": "/other/store"])?.storeDirectory == "/other/store")
        #expect(configuration(["NIX_STORE_DIR": "/a", "NIX_STORE": "/b"])?.storeDirectory == "/a")
    }

    @Test func stateDirectoryMovesDatabaseAndSocket() throws {
        let c = try #require(configuration(["GUIX_STATE_DIRECTORY": "/srv/guix/./state"]))
        #expect(c.stateDirectory == "/srv/guix/state")
        #expect(c.databaseDirectory == "/srv/guix/state/db")
        #expect(c.defaultSocketPath == "/srv/guix/state/daemon-socket/socket")
        #expect(c.effectiveListenAddresses == [.unix(path: "/srv/guix/state/daemon-socket/socket")])
    }

    @Test func explicitDirectories() throws {
        let c = try #require(configuration([
            "GUIX_DATABASE_DIRECTORY": "/db//here/",  // taken as is, as guix-daemon does
            "GUIX_LOG_DIRECTORY": "/logs/",
            "GUIX_CONFIGURATION_DIRECTORY": "/conf/../etc/guix",
            "NIX_BIN_DIR": "/opt/guix/bin",
            "TMPDIR": "/scratch",
        ]))
        #expect(c.databaseDirectory == "/db//here/")
        #expect(c.logDirectory == "/logs")
        #expect(c.configurationDirectory == "/etc/guix")
        #expect(c.binDirectory == "/opt/guix/bin")
        #expect(c.guixProgram == "/opt/guix/bin/guix")
        #expect(c.temporaryDirectory == "/scratch")
        #expect(configuration(["GUIX": "/usr/bin/guix", "NIX_BIN_DIR": "/opt"])?.guixProgram == "/usr/bin/guix")
        #expect(configuration([:])?.temporaryDirectory == "/tmp")
    }

    @Test(arguments: ["NIX_STORE_DIR", "NIX_STORE", "GUIX_STATE_DIRECTORY", "GUIX_LOG_DIRECTORY",
                      "GUIX_CONFIGURATION_DIRECTORY", "NIX_BIN_DIR", "GUIX"])
    func relativeDirectoryIsAnError(_ name: String) {
        for value in ["relative/dir", ""] {
            let outcome = DaemonCommandLine.parse(["d", "--help"], environment: [name: value])
            #expect(outcome == .exit(status: 1, standardOutput: "", standardError: "error: not an absolute path: `\(value)'\n"))
        }
    }

    @Test func socketActivationOnlyForThisProcess() throws {
        let activated = try #require(configuration(["LISTEN_PID": "4242", "LISTEN_FDS": "2"], ["--listen=/x"]))
        #expect(activated.activationDescriptors == [3, 4])
        let other = try #require(configuration(["LISTEN_PID": "1", "LISTEN_FDS": "2"]))
        #expect(other.activationDescriptors.isEmpty)
        let garbage = try #require(configuration(["LISTEN_PID": "4242", "LISTEN_FDS": "two"]))
        #expect(garbage.activationDescriptors.isEmpty)
        let none = try #require(configuration(["LISTEN_PID": "4242"]))
        #expect(none.activationDescriptors.isEmpty)
    }

    @Test func switches() throws {
        let off = try #require(configuration([:]))
        #expect(!off.ignoreSymlinkStore && off.lockCPU && !off.forceSeccomp)
        #expect(off.httpProxy == nil && off.httpsProxy == nil)
        let on = try #require(configuration([
            "NIX_IGNORE_SYMLINK_STORE": "1", "NIX_AFFINITY_HACK": "0", "GUIX_FORCE_SECCOMP": "",
            "http_proxy": "http://p:3128", "https_proxy": "http://q:3128",
        ]))
        #expect(on.ignoreSymlinkStore && !on.lockCPU && on.forceSeccomp)
        #expect(on.httpProxy == "http://p:3128" && on.httpsProxy == "http://q:3128")
        #expect(configuration(["NIX_IGNORE_SYMLINK_STORE": "yes"])?.ignoreSymlinkStore == false)
    }

    @Test func optionsStillApplyOnTopOfTheEnvironment() throws {
        let c = try #require(configuration(["NIX_STORE_DIR": "/s"], ["--listen=/run/s", "--build-users-group=g"]))
        #expect(c.storeDirectory == "/s")
        #expect(c.listen == [.unix(path: "/run/s")])
        #expect(c.buildUsersGroup == "g")
    }
}

/// The startup messages rendered from a configuration.
@Suite(.tags(.small))
struct StartupLogTests {
    @Test func rootWithoutGroupIsWarnedAboutAsGuixDaemonDoes() {
        let c = DaemonConfiguration()
        let log = c.startupLog(effectiveUserID: 0)
        #expect(log.contains("warning: daemon is running as root, so using `--build-users-group' is highly recommended\n"))
        #expect(!c.startupLog(effectiveUserID: 999).contains("warning:"))
        var pool = c
        pool.buildUsersGroup = "guixbuild"
        #expect(!pool.startupLog(effectiveUserID: 0).contains("warning:"))
    }

    @Test func modeStoreAndSocketAreLogged() {
        var c = DaemonConfiguration()
        c.buildUsersGroup = "guixbuild"
        let pool = c.startupLog(effectiveUserID: 0)
        #expect(pool.contains("build-user pool mode"))
        #expect(pool.contains("`guixbuild'"))
        #expect(pool.contains("store /gnu/store"))
        #expect(pool.contains("listening on Unix socket /var/guix/daemon-socket/socket"))
        var u = DaemonConfiguration()
        u.listen = [.tcp(host: "localhost", port: "44146"), .unix(path: "/run/s")]
        let unprivileged = u.startupLog(effectiveUserID: 998)
        #expect(unprivileged.contains("unprivileged mode (uid 998)"))
        #expect(unprivileged.contains("listening on 'localhost', port '44146'"))
        #expect(unprivileged.contains("listening on Unix socket /run/s"))
        #expect(!unprivileged.contains("daemon-socket"))
    }

    @Test func socketActivationIsLoggedAndListenIgnored() {
        var c = DaemonConfiguration()
        c.activationDescriptors = [3]
        c.listen = [.unix(path: "/run/s")]
        let log = c.startupLog(effectiveUserID: 998)
        #expect(log.contains("socket-activated with 1 socket\n"))
        #expect(!log.contains("/run/s"))
        c.activationDescriptors = [3, 4]
        #expect(c.startupLog(effectiveUserID: 998).contains("socket-activated with 2 sockets\n"))
    }

    @Test func listenerLinesCanBeLeftToTheListener() {
        var c = DaemonConfiguration()
        c.activationDescriptors = [3]
        let log = c.startupLog(effectiveUserID: 0, includeListeners: false)
        #expect(!log.contains("socket"))
        #expect(log.contains("warning: daemon is running as root"))
        #expect(log.contains("store /gnu/store"))
    }

    @Test func debugLinesOnlyWithDebug() {
        var c = DaemonConfiguration()
        c.extraChrootDirectories = ["/a", "/b=/c"]
        #expect(!c.startupLog(effectiveUserID: 1).contains("extra chroot"))
        c.verbosity = .debug
        let log = c.startupLog(effectiveUserID: 1)
        #expect(log.contains("build log compression: gzip\n"))
        #expect(log.contains("extra chroot directories: '/a /b=/c'\n"))
        #expect(log.contains("automatic deduplication set to 1\n"))
        #expect(c.startupMessages(effectiveUserID: 1).filter { $0.level == .debug }.count == 3)
    }
}
