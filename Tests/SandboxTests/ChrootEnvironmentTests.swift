import Testing
@testable import Sandbox

/// The Guix build environment's fixed bytes (guix-daemon.md §1.5, §1.8, §1.10), without a kernel.
@Suite(.tags(.small))
struct ChrootEnvironmentTests {
    func environment(identity: SandboxIdentity, drvEnv: [(name: [UInt8], value: [UInt8])] = []) -> ChrootEnvironment {
        let dir = BuildDirectory(parent: "/tmp", name: "guix-build-hello-2.12.drv-3", insidePath: "/tmp/guix-build-hello-2.12.drv-0")
        return ChrootEnvironment(derivationName: "hello-2.12.drv", inputPaths: ["/gnu/store/aaa-bash"], chrootDirectory: "/c",
                                 buildDirectory: dir, identity: identity, builder: "/gnu/store/aaa-bash/bin/bash",
                                 derivationEnvironment: drvEnv, buildCores: 2)
    }

    @Test func etcFilesInUserNamespaceMode() {
        let env = environment(identity: .userNamespace(insideUID: 30001, insideGID: 30000, hostUID: 5, hostGID: 6))
        #expect(env.passwd == Array("nixbld:x:30001:30000:Nix build user:/:/noshell\nnobody:x:65534:65534:Nobody:/:/noshell\n".utf8))
        #expect(env.group == Array("nixbld:!:30000:\n".utf8))
        #expect(ChrootEnvironment.hosts == Array("127.0.0.1 localhost\n::1 localhost\n".utf8))
    }

    @Test func etcFilesInPoolModeUseTheBuildGroup() {
        let env = environment(identity: .buildUser(uid: 991, gid: 994, supplementaryGroups: [994, 108]))
        #expect(env.passwd == Array("nixbld:x:991:994:Nix build user:/:/noshell\nnobody:x:65534:65534:Nobody:/:/noshell\n".utf8))
        #expect(env.group == Array("nixbld:!:994:\n".utf8))
    }

    @Test func environmentLayersAndOrder() {
        let env = environment(identity: .unchanged, drvEnv: [
            (Array("out".utf8), Array("/gnu/store/x-out".utf8)),
            (Array("PATH".utf8), Array("/gnu/store/aaa-bash/bin".utf8)),
            (Array("TMPDIR".utf8), Array("/elsewhere".utf8)),
        ])
        let lines = env.environment.map { String(decoding: $0, as: UTF8.self) }
        #expect(lines == [
            "HOME=/homeless-shelter",
            "NIX_BUILD_CORES=2",
            "NIX_BUILD_TOP=/tmp/guix-build-hello-2.12.drv-0",
            "NIX_STORE=/gnu/store",
            "PATH=/gnu/store/aaa-bash/bin",
            "PWD=/tmp/guix-build-hello-2.12.drv-0",
            "TEMP=/tmp/guix-build-hello-2.12.drv-0",
            "TEMPDIR=/tmp/guix-build-hello-2.12.drv-0",
            "TMP=/tmp/guix-build-hello-2.12.drv-0",
            "TMPDIR=/tmp/guix-build-hello-2.12.drv-0",
            "out=/gnu/store/x-out",
        ])
    }

    @Test func personality() {
        #expect(ChrootEnvironment.personality(system: "x86_64-linux", hostSystem: "x86_64-linux", impersonateLinux26: false) == 0x0040000)
        #expect(ChrootEnvironment.personality(system: "i686-linux", hostSystem: "x86_64-linux", impersonateLinux26: true) == 0x0040000 | 0x0020000 | 0x0008)
        #expect(ChrootEnvironment.personality(system: "armhf-linux", hostSystem: "aarch64-linux", impersonateLinux26: true) == 0x0040000 | 0x0008)
    }

    /// A `--chroot-directory` file may be the builder (Nix's sandbox-paths `/bin/sh`); a
    /// directory, a missing file or an unlisted name may not.
    @Test func administratorsChrootFileMayBeTheBuilder() throws {
        var env = environment(identity: .unchanged)
        env.builder = "/bin/sh"
        env.extraDirectories = [(inside: "/bin/sh", outside: "/bin/busybox"), (inside: "/opt", outside: "/tmp"),
                                (inside: "/gone", outside: "/nonexistent-\(UInt64.random(in: 0...UInt64.max))")]
        #expect(throws: Never.self) { try env.spec(hostHasKVM: false, hostHasPTMX: false) }
        for builder in ["/opt", "/gone", "/bin/busybox"] {
            env.builder = builder
            #expect(throws: SandboxError.invalidSpec(reason: "derivation builder `\(builder)' is outside the store")) {
                try env.spec(hostHasKVM: false, hostHasPTMX: false)
            }
        }
    }

    @Test(arguments: ["/proc/self/exe", "bin/sh", "/gnu/store/aaa-bash/../../../proc/self/exe", "/gnu/store/zzz-other/bin/sh"])
    func builderOutsideTheStoreIsRefused(_ builder: String) {
        var env = environment(identity: .unchanged)
        env.builder = builder
        #expect(throws: SandboxError.invalidSpec(reason: "derivation builder `\(builder)' is outside the store")) {
            try env.spec(hostHasKVM: false, hostHasPTMX: false)
        }
    }
}
