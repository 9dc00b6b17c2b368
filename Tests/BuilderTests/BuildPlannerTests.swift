import Testing
import StoreFormats
@testable import Sandbox
@testable import Builder

/// BuildPlanner is pure: derivation + closure + settings → plan (guix-daemon.md §1.4, §1.8, §1.9).
@Suite(.tags(.small))
struct BuildPlannerTests {
    let store = StoreDirectory.guix
    func path(_ c: Character, _ name: String) throws -> StorePath {
        try StorePath(baseName: String(repeating: c, count: 32) + "-" + name)
    }

    func derivation(fixed: Bool = false, builder: String? = nil, env: [String: String] = [:], platform: String = "x86_64-linux") throws -> Derivation {
        let bash = try path("b", "bash")
        let out = try path("p", "hello")
        let outputs: [String: DerivationOutput] = fixed
            ? ["out": .fixed(out, method: .flat, hash: Hasher.hash(.sha256, Array("x".utf8)))]
            : ["out": .inputAddressed(out)]
        var environment: [[UInt8]: [UInt8]] = [Array("out".utf8): Array(out.absolute(in: store).utf8)]
        for (k, v) in env { environment[Array(k.utf8)] = Array(v.utf8) }
        return Derivation(outputs: outputs, inputSources: [bash], platform: platform,
                          builder: Array((builder ?? bash.absolute(in: store) + "/bin/bash").utf8),
                          args: [Array("-c".utf8), Array("true".utf8)], env: environment)
    }

    func plan(_ drv: Derivation, settings: BuildSettings = BuildSettings()) throws -> BuildPlan {
        try BuildPlanner.plan(derivationPath: try path("d", "hello.drv"), derivation: drv,
                              inputClosure: [try path("b", "bash"), try path("p", "hello")], store: store, settings: settings)
    }

    @Test func plainDerivationHasIsolatedNetworkAndNoImpureVariables() throws {
        var settings = BuildSettings()
        settings.daemonEnvironment = ["http_proxy": "http://proxy:3128"]
        let p = try plan(try derivation(env: ["impureEnvVars": "http_proxy"]), settings: settings)
        #expect(p.network == .isolated)
        #expect(!p.fixedOutput)
        #expect(!p.derivationEnvironment.contains { $0.name == Array("http_proxy".utf8) })
        #expect(p.derivationName == "hello.drv")
    }

    @Test func fixedOutputGetsNetworkAndImpureVariablesFromTheDaemon() throws {
        var settings = BuildSettings()
        settings.daemonEnvironment = ["http_proxy": "http://proxy:3128", "LANG": "C"]
        let p = try plan(try derivation(fixed: true, env: ["impureEnvVars": "http_proxy https_proxy LANG"]), settings: settings)
        #expect(p.network == .host)
        let env = Dictionary(p.derivationEnvironment.map { (String(decoding: $0.name, as: UTF8.self), String(decoding: $0.value, as: UTF8.self)) },
                             uniquingKeysWith: { a, _ in a })
        #expect(env["http_proxy"] == "http://proxy:3128")
        #expect(env["https_proxy"] == "")
        #expect(env["LANG"] == "C")
    }

    @Test func outputsAreNeverBoundFromOutside() throws {
        let p = try plan(try derivation())
        #expect(p.inputClosure == [try path("b", "bash")])
        #expect(p.inputPaths == ["/gnu/store/" + String(repeating: "b", count: 32) + "-bash"])
    }

    @Test func environmentIsExactlyGuixs() throws {
        var settings = BuildSettings()
        settings.buildCores = 4
        let p = try plan(try derivation(env: ["HOME": "/override", "NIX_BUILD_TOP": "/nope"]), settings: settings)
        let directory = BuildDirectory(parent: "/tmp", name: "guix-build-hello.drv-3", insidePath: "/tmp/guix-build-hello.drv-0")
        let chroot = p.chrootEnvironment(chrootDirectory: "/x", buildDirectory: directory,
                                         identity: .userNamespace(insideUID: 30001, insideGID: 30000, hostUID: 1000, hostGID: 1000))
        let env = chroot.environment.map { String(decoding: $0, as: UTF8.self) }
        let top = "/tmp/guix-build-hello.drv-0"
        #expect(env == ["HOME=/override", "NIX_BUILD_CORES=4", "NIX_BUILD_TOP=\(top)", "NIX_STORE=/gnu/store",
                        "PATH=/path-not-set", "PWD=\(top)", "TEMP=\(top)", "TEMPDIR=\(top)", "TMP=\(top)", "TMPDIR=\(top)",
                        "out=/gnu/store/" + String(repeating: "p", count: 32) + "-hello"])
    }

    @Test(arguments: ["/proc/self/exe", "bin/sh", "/gnu/store/../etc/x", "/gnu/storex/y"])
    func builderOutsideTheStoreIsRefused(_ builder: String) throws {
        #expect(throws: BuildError.self) { try plan(try derivation(builder: builder)) }
        do { _ = try plan(try derivation(builder: builder)) } catch {
            #expect("\(error)" == "derivation builder `\(builder)' is outside the store")
        }
    }

    /// Nix's sandbox-paths shape: a builder the administrator put in every chroot is accepted
    /// only with the chroot on, named exactly, never a path below it.
    @Test func administratorsChrootFileMayBeTheBuilder() throws {
        var settings = BuildSettings()
        settings.extraChrootDirectories = ["/bin/sh=/bin/busybox"]
        #expect(throws: Never.self) { try plan(try derivation(builder: "/bin/sh"), settings: settings) }
        #expect(throws: BuildError.self) { try plan(try derivation(builder: "/bin/sh")) }
        #expect(throws: BuildError.self) { try plan(try derivation(builder: "/bin/sh/x"), settings: settings) }
        settings.useChroot = false
        #expect(throws: BuildError.self) { try plan(try derivation(builder: "/bin/sh"), settings: settings) }
    }

    @Test func foreignPlatformIsRefusedWithGuixsMessage() throws {
        do {
            _ = try plan(try derivation(platform: "aarch64-linux"))
            Issue.record("no error")
        } catch {
            #expect("\(error)".hasPrefix("a `aarch64-linux' is required to build `/gnu/store/"))
            #expect("\(error)".hasSuffix("-hello.drv', but I am a `x86_64-linux'"))
        }
        #expect(BuildPlanner.canBuildLocally(platform: "i686-linux", system: "x86_64-linux"))
        #expect(!BuildPlanner.canBuildLocally(platform: "x86_64-linux", system: "i686-linux"))
    }

    /// For a Nix client: Nix 2.8's words (features named, arguments coloured) and its check that
    /// every required system feature is one this daemon has; Guix clients get neither.
    @Test func nixClientsGetNixsMessageAndFeatureCheck() throws {
        var settings = BuildSettings()
        settings.messageStyle = .nix
        settings.systemFeatures = ["big-parallel", "benchmark"]
        let m = "\u{1b}[35;1m", n = "\u{1b}[0m"
        let drvText = try path("d", "hello.drv").absolute(in: store)
        func failure(_ drv: Derivation, _ settings: BuildSettings) -> String? {
            do { _ = try plan(drv, settings: settings); return nil } catch { return "\(error)" }
        }
        #expect(failure(try derivation(platform: "aarch64-linux"), settings)
            == "a '\(m)aarch64-linux\(n)' with features {\(m)\(n)} is required to build '\(m)\(drvText)\(n)', "
            + "but I am a '\(m)x86_64-linux\(n)' with features {\(m)benchmark, big-parallel\(n)}")
        let kvm = try derivation(env: ["requiredSystemFeatures": "kvm  benchmark"])
        #expect(failure(kvm, settings)
            == "a '\(m)x86_64-linux\(n)' with features {\(m)benchmark, kvm\(n)} is required to build '\(m)\(drvText)\(n)', "
            + "but I am a '\(m)x86_64-linux\(n)' with features {\(m)benchmark, big-parallel\(n)}")
        #expect(failure(try derivation(env: ["requiredSystemFeatures": "benchmark"]), settings) == nil)
        // guix-daemon checks the platform only.
        #expect(failure(kvm, BuildSettings()) == nil)
    }

    @Test func chrootDirectoriesParse() throws {
        let dirs = try BuildPlanner.extraDirectories(["/bin /usr/lib=/opt/lib", "/etc/ssl"])
        #expect(dirs.map { "\($0.inside)=\($0.outside)" } == ["/bin=/bin", "/usr/lib=/opt/lib", "/etc/ssl=/etc/ssl"])
        #expect(throws: BuildError.self) { try BuildPlanner.extraDirectories(["relative"]) }
    }

    @Test func workerExitStatusFollowsGuix() {
        #expect(workerExitStatus([BuildResult(status: .built)]) == 0)
        #expect(workerExitStatus([BuildResult(status: .permanentFailure), BuildResult(status: .timedOut)]) == 101)
        #expect(workerExitStatus([BuildResult(status: .cachedFailure)]) == 100)
        #expect(workerExitStatus([BuildResult(status: .miscFailure)]) == 1)
    }
}
