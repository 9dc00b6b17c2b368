import CSandbox
import Testing
@testable import Sandbox

/// Read-only binds from one directory go through one read-only view of it (one mount call per
/// input instead of bind + statfs + remount); the view is gone before pivot_root.
@Suite(.tags(.small))
struct ReadOnlyViewPlanTests {
    let view = "/chroot/.cloister-read-only-view"

    func steps(_ entries: [RootEntry], view: String? = "/s", lookup: @escaping (String) -> BindSource = { _ in .directory }) throws -> [SetupStep] {
        var root = RootPlan(directory: "/chroot", kind: .tmpfs, entries: entries)
        root.readOnlyView = view
        let spec = SandboxSpec(root: root, identity: .unchanged,
                               program: "/bin/x", arguments: [Array("x".utf8)], environment: [], workingDirectory: "/tmp")
        return try SetupPlan.steps(for: spec, lookup: lookup)
    }

    @Test func inputsOfTheStoreAreBoundFromOneReadOnlyView() throws {
        let entries: [RootEntry] = [.directory("/gnu/store", mode: 0o1775)]
            + ["aaa-dir", "bbb-file", "ccc-link"].map { .bind(inside: "/gnu/store/" + $0, outside: "/s/" + $0, options: [.readOnly]) }
            + [.bind(inside: "/dev/null", outside: "/dev/null", options: [.readOnly]), .bind(inside: "/dev/zero", outside: "/dev/zero", options: [.readOnly]),
               .bind(inside: "/etc/hosts", outside: "/etc/hosts", options: [.readOnly]),
               .bind(inside: "/gnu/store/ddd-nosuid", outside: "/s/ddd-nosuid", options: [.readOnly, .noSetuid])]
        let all = try steps(entries) { path in
            switch path {
            case "/s/ccc-link": return .symlink(target: Array("aaa-dir".utf8))
            case "/s/bbb-file", "/dev/null", "/dev/zero", "/etc/hosts": return .file
            default: return .directory
            }
        }
        let mkdir = try #require(all.firstIndex { $0.op == CSANDBOX_MKDIR && $0.path == view })
        #expect(all[mkdir].mode == 0o700)
        let open = try #require(all.firstIndex { $0.op == CSANDBOX_BIND && $0.path == view })
        #expect(all[open].path2 == "/s" && all[open].mountFlags == MountFlag.readOnly && all[open].bindAlone)
        let binds = all.filter { $0.op == CSANDBOX_BIND && $0.path != view && $0.path != "/chroot" }
        // Only the store's: /dev has mounts below it a user namespace locks (no bind of it alone).
        #expect(binds.map(\.path2) == [view + "/aaa-dir", view + "/bbb-file", "/dev/null", "/dev/zero", "/etc/hosts", "/s/ddd-nosuid"])
        #expect(binds.map(\.mountFlags) == [0, 0, MountFlag.readOnly, MountFlag.readOnly, MountFlag.readOnly, MountFlag.readOnly | MountFlag.noSetuid])
        #expect(all.filter { $0.op == CSANDBOX_BIND && $0.bindAlone }.count == 1)
        #expect(binds.allSatisfy { !$0.bindAlone })
        // Symlinks are still copied; the view is unmounted and removed before the pivot.
        #expect(all.contains { $0.op == CSANDBOX_SYMLINK && $0.path2 == "aaa-dir" })
        let umount = try #require(all.firstIndex { $0.op == CSANDBOX_UMOUNT && $0.path == view })
        let rmdir = try #require(all.firstIndex { $0.op == CSANDBOX_RMDIR && $0.path == view })
        let pivot = try #require(all.firstIndex { $0.op == CSANDBOX_PIVOT_ROOT })
        let lastBind = try #require(all.lastIndex { $0.op == CSANDBOX_BIND })
        #expect(mkdir < open && open < lastBind && lastBind < umount && umount < rmdir && rmdir < pivot)
        #expect(all[umount].a == MountFlag.detach)
    }

    @Test func aSingleReadOnlyBindIsMadeDirectly() throws {
        let all = try steps([.bind(inside: "/gnu/store/aaa-dir", outside: "/s/aaa-dir", options: [.readOnly]),
                             .bind(inside: "/gnu/store/bbb-link", outside: "/s/bbb-link", options: [.readOnly])]) {
            $0 == "/s/bbb-link" ? .symlink(target: Array("x".utf8)) : .directory
        }
        #expect(!all.contains { $0.path == view })
        let bind = try #require(all.first { $0.op == CSANDBOX_BIND && $0.path2 == "/s/aaa-dir" })
        #expect(bind.mountFlags == MountFlag.readOnly)
    }

    @Test func noViewUnlessTheSpecNamesItsDirectory() throws {
        let all = try steps(["aaa", "bbb"].map { .bind(inside: "/gnu/store/" + $0, outside: "/s/" + $0, options: [.readOnly]) }, view: nil)
        #expect(!all.contains { $0.path == view || $0.bindAlone })
    }

    /// An entry of the spec's own at the view's place: no view (nothing of the spec is hidden).
    @Test func noViewWhereTheSpecPutsSomething() throws {
        let all = try steps(["aaa", "bbb"].map { .bind(inside: "/gnu/store/" + $0, outside: "/s/" + $0, options: [.readOnly]) }
                            + [.bind(inside: "/.cloister-read-only-view", outside: "/elsewhere")])
        #expect(!all.contains { $0.op == CSANDBOX_UMOUNT })
        #expect(all.filter { $0.op == CSANDBOX_BIND && ($0.path2 ?? "").hasPrefix("/s/") }.allSatisfy { $0.mountFlags == MountFlag.readOnly })
    }
}
