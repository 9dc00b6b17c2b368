import CSandbox
import Testing
@testable import Sandbox

/// The spec → step list translation, without a kernel.
@Suite(.tags(.small))
struct SetupPlanTests {
    func spec(identity: SandboxIdentity, entries: [RootEntry] = [], network: NetworkMode = .isolated) -> SandboxSpec {
        SandboxSpec(root: RootPlan(directory: "/chroot", entries: entries), identity: identity, network: network,
                    program: "/bin/x", arguments: [Array("x".utf8)], environment: [Array("A=b".utf8)], workingDirectory: "/tmp")
    }

    @Test func userNamespaceMapsComeFirstAndAreSingleIDs() throws {
        let steps = try SetupPlan.steps(for: spec(identity: .userNamespace(insideUID: 30001, insideGID: 30000, hostUID: 1000, hostGID: 100)),
                                        lookup: { _ in .directory })
        #expect(steps.prefix(3).map(\.path) == ["/proc/self/uid_map", "/proc/self/setgroups", "/proc/self/gid_map"])
        #expect(steps.prefix(3).map { String(decoding: $0.bytes ?? [], as: UTF8.self) } == ["30001 1000 1", "deny", "30000 100 1"])
        #expect(!steps.contains { $0.op == CSANDBOX_SETUID || $0.op == CSANDBOX_SETGROUPS })
        #expect(steps.last?.op == CSANDBOX_EXEC)
    }

    @Test func buildUserSwitchesIDsAfterPivotAndBeforeExec() throws {
        let steps = try SetupPlan.steps(for: spec(identity: .buildUser(uid: 990, gid: 994, supplementaryGroups: [994, 993])),
                                        lookup: { _ in .directory })
        let ops = steps.map(\.op)
        let pivot = try #require(ops.firstIndex(of: CSANDBOX_PIVOT_ROOT))
        let setgroups = try #require(ops.firstIndex(of: CSANDBOX_SETGROUPS))
        let setgid = try #require(ops.firstIndex(of: CSANDBOX_SETGID))
        let setuid = try #require(ops.firstIndex(of: CSANDBOX_SETUID))
        #expect(pivot < setgroups && setgroups < setgid && setgid < setuid && setuid < ops.count - 1)
        #expect(steps[setgroups].ids == [994, 993])
        #expect(steps[setuid].a == 990 && steps[setgid].a == 994)
        #expect(!ops.contains(CSANDBOX_WRITE_EXISTING) || steps.filter { $0.op == CSANDBOX_WRITE_EXISTING }.allSatisfy { $0.path == "/proc/self/oom_score_adj" })
    }

    @Test func loopbackOnlyInOwnNetworkNamespace() throws {
        let isolated = try SetupPlan.steps(for: spec(identity: .unchanged), lookup: { _ in .file })
        let host = try SetupPlan.steps(for: spec(identity: .unchanged, network: .host), lookup: { _ in .file })
        #expect(isolated.contains { $0.op == CSANDBOX_LOOPBACK_UP })
        #expect(!host.contains { $0.op == CSANDBOX_LOOPBACK_UP })
    }

    @Test func bindsCreatePlaceholdersAndParentsAndCopySymlinks() throws {
        let entries: [RootEntry] = [
            .bind(inside: "/gnu/store/aaa-dir", outside: "/s/aaa-dir", options: [.readOnly]),
            .bind(inside: "/gnu/store/bbb-file", outside: "/s/bbb-file", options: [.readOnly]),
            .bind(inside: "/gnu/store/ccc-link", outside: "/s/ccc-link", options: [.readOnly]),
        ]
        let steps = try SetupPlan.steps(for: spec(identity: .unchanged, entries: entries)) { path in
            switch path {
            case "/s/aaa-dir": return .directory
            case "/s/bbb-file": return .file
            default: return .symlink(target: Array("aaa-dir".utf8))
            }
        }
        let relevant = steps.filter { ($0.path ?? "").hasPrefix("/chroot/") }
        #expect(relevant.map(\.op) == [CSANDBOX_MKDIR, CSANDBOX_MKDIR, CSANDBOX_MKDIR, CSANDBOX_BIND,
                                       CSANDBOX_CREATE_FILE, CSANDBOX_BIND, CSANDBOX_SYMLINK])
        #expect(relevant.map(\.path) == ["/chroot/gnu", "/chroot/gnu/store", "/chroot/gnu/store/aaa-dir", "/chroot/gnu/store/aaa-dir",
                                         "/chroot/gnu/store/bbb-file", "/chroot/gnu/store/bbb-file", "/chroot/gnu/store/ccc-link"])
        #expect(relevant[3].mountFlags == BindOptions.readOnly.rawValue)
        #expect(relevant[6].path2 == "aaa-dir")
    }

    /// Inodes are what cost on disk, so file mount points in one directory are links to one
    /// stub, whose own name is gone before pivot_root.
    @Test func fileMountPointsInOneDirectoryShareOneStub() throws {
        let entries: [RootEntry] = ["a", "b", "c"].map { .bind(inside: "/gnu/store/\($0)-file", outside: "/s/\($0)-file", options: [.readOnly]) }
            + [.bind(inside: "/dev/null", outside: "/dev/null")]
        let steps = try SetupPlan.steps(for: spec(identity: .unchanged, entries: entries), lookup: { _ in .file })
        let stub = "/chroot/gnu/store/.cloister-mount-point"
        let store = steps.filter { ($0.path ?? "").hasPrefix("/chroot/gnu/store/") }
        #expect(store.map(\.op) == [CSANDBOX_CREATE_FILE, CSANDBOX_LINK, CSANDBOX_BIND, CSANDBOX_LINK, CSANDBOX_BIND,
                                    CSANDBOX_LINK, CSANDBOX_BIND, CSANDBOX_UNLINK])
        #expect(store.first?.path == stub && store.last?.path == stub)
        #expect(store.filter { $0.op == CSANDBOX_LINK }.allSatisfy { $0.path2 == stub })
        // A lone file mount point is created as before.
        #expect(steps.contains { $0.op == CSANDBOX_CREATE_FILE && $0.path == "/chroot/dev/null" })
        let unlink = try #require(steps.firstIndex { $0.op == CSANDBOX_UNLINK })
        let pivot = try #require(steps.firstIndex { $0.op == CSANDBOX_PIVOT_ROOT })
        #expect(unlink < pivot)
    }

    /// The store's many mount points are named relative to it once the child is inside; a
    /// mount over that directory (or any absolute mount) sends it back in before the next one.
    @Test func manyMountPointsAreNamedRelativeToTheirDirectory() throws {
        let names = (0..<10).map { "\($0)aaa-input" }
        var entries: [RootEntry] = [.directory("/gnu/store", mode: 0o1775)]
        entries += names.map { .bind(inside: "/gnu/store/" + $0, outside: "/s/" + $0, options: [.readOnly]) }
        entries += [.bind(inside: "/gnu/store", outside: "/elsewhere"), .bind(inside: "/gnu/store/zzz-late", outside: "/s/zzz-late")]
        let steps = try SetupPlan.steps(for: spec(identity: .unchanged, entries: entries)) { $0 == "/elsewhere" ? .directory : .file }
        let chdirs = steps.indices.filter { steps[$0].op == CSANDBOX_CHDIR && steps[$0].path == "/chroot/gnu/store" }
        #expect(chdirs.count == 2)
        let binds = steps.filter { $0.op == CSANDBOX_BIND && $0.path != "/chroot" }
        #expect(binds.map(\.path) == names + ["/chroot/gnu/store", "zzz-late"])
        // The first stub is covered by the later mount, so the late one links to a new stub.
        #expect(steps.filter { $0.op == CSANDBOX_LINK }.map(\.path2) == Array(repeating: ".cloister-mount-point", count: 11))
        #expect(steps.filter { $0.op == CSANDBOX_CREATE_FILE && $0.path == ".cloister-mount-point" }.count == 2)
        #expect(steps.filter { $0.op == CSANDBOX_UNLINK }.map(\.path) == [".cloister-mount-point"])
        let cover = try #require(steps.firstIndex { $0.op == CSANDBOX_BIND && $0.path == "/chroot/gnu/store" })
        #expect(chdirs[0] < cover && cover < chdirs[1])
        #expect(steps[(chdirs[1] + 1)...].contains { $0.op == CSANDBOX_BIND && $0.path == "zzz-late" })
        #expect(!steps.contains { $0.op != CSANDBOX_BIND && $0.op != CSANDBOX_LINK && $0.op != CSANDBOX_CREATE_FILE
                                  && $0.op != CSANDBOX_UNLINK && !($0.path ?? "/").hasPrefix("/") })
    }

    @Test func explicitDirectoryAfterImplicitParentIsAChmod() throws {
        let entries: [RootEntry] = [.file("/tmp/a", contents: []), .directory("/tmp", mode: 0o1777)]
        let steps = try SetupPlan.steps(for: spec(identity: .unchanged, entries: entries), lookup: { _ in .file })
        let tmp = steps.filter { $0.path == "/chroot/tmp" }
        #expect(tmp.map(\.op) == [CSANDBOX_MKDIR, CSANDBOX_CHMOD])
        #expect(tmp.last?.mode == 0o1777)
    }

    @Test(arguments: ["relative", "/a/../b", "/a/./b"])
    func rejectsPathsThatAreNotPlainAbsolute(_ path: String) {
        #expect(throws: SandboxError.self) {
            try SetupPlan.steps(for: spec(identity: .unchanged, entries: [.directory(path, mode: 0o755)]), lookup: { _ in .file })
        }
    }

    @Test func withoutRootNoMountsAndNoNamespaceOnlyIdentities() throws {
        var plain = spec(identity: .buildUser(uid: 990, gid: 994, supplementaryGroups: []), network: .host)
        plain.root = nil
        let steps = try SetupPlan.steps(for: plain, lookup: { _ in .file })
        #expect(steps.map(\.op) == [CSANDBOX_SETSID, CSANDBOX_STDIO, CSANDBOX_DROP_AMBIENT_CAPS, CSANDBOX_CHDIR, CSANDBOX_CLOSE_FDS,
                                     CSANDBOX_WRITE_EXISTING, CSANDBOX_SETGROUPS, CSANDBOX_SETGID, CSANDBOX_SETUID,
                                     CSANDBOX_NO_NEW_PRIVS, CSANDBOX_EXEC])
        var userns = spec(identity: .userNamespace(insideUID: 1, insideGID: 1, hostUID: 2, hostGID: 2), network: .host)
        userns.root = nil
        #expect(throws: SandboxError.invalidSpec(reason: "a user namespace needs a root plan (chroot)")) {
            try SetupPlan.steps(for: userns, lookup: { _ in .file })
        }
    }

    @Test func setupErrorsReadAsGuixDoes() {
        let error = SandboxError.setupFailed(phase: "mountIntoChroot", action: "bind-mounting `/x' to `/y'", step: 3, errno: .noSuchFile)
        #expect(error.description == "while setting up the child process: in phase mountIntoChroot: bind-mounting `/x' to `/y': No such file or directory")
    }
}
