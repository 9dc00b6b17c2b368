import CSandbox
import Testing
@testable import Sandbox

/// Mount points already on disk (made by the caller, or kept by a recycled skeleton) are used
/// again as they are, replaced if of the other kind, and removed before the pivot if no bind
/// needs them.
@Suite(.tags(.small))
struct RecycledMountPointPlanTests {
    @Test func existingMountPointsAreReusedReplacedOrRemoved() throws {
        var root = RootPlan(directory: "/chroot", kind: .tmpfs, entries: [.directory("/gnu/store", mode: 0o1775)]
            + ["a-dir", "b-file", "c-dir", "d-file", "e-file"].map { .bind(inside: "/gnu/store/" + $0, outside: "/s/" + $0, options: [.readOnly]) })
        root.existingMountPoints = ["/gnu/store/a-dir": .directory, "/gnu/store/b-file": .file, "/gnu/store/c-dir": .file,
                                    "/gnu/store/z-gone": .directory, "/gnu/store/y-gone": .file]
        let spec = SandboxSpec(root: root, identity: .unchanged, program: "/bin/x", arguments: [Array("x".utf8)], environment: [])
        let steps = try SetupPlan.steps(for: spec) { $0.hasSuffix("-dir") ? .directory : .file }
        let stub = "/chroot/gnu/store/.cloister-mount-point"
        let store = steps.filter { $0.op != CSANDBOX_BIND && ($0.path ?? "").hasPrefix("/chroot/gnu/store/") }
        #expect(store.map(\.op) == [CSANDBOX_UNLINK, CSANDBOX_MKDIR, CSANDBOX_CREATE_FILE, CSANDBOX_LINK, CSANDBOX_LINK,
                                    CSANDBOX_UNLINK, CSANDBOX_RMDIR, CSANDBOX_UNLINK])
        #expect(store.map(\.path) == ["/chroot/gnu/store/c-dir", "/chroot/gnu/store/c-dir", stub, "/chroot/gnu/store/d-file",
                                      "/chroot/gnu/store/e-file", "/chroot/gnu/store/y-gone", "/chroot/gnu/store/z-gone", stub])
        let binds = steps.filter { $0.op == CSANDBOX_BIND && ($0.path ?? "").hasPrefix("/chroot/gnu/store/") }
        #expect(binds.count == 5)
        let lastRemoval = try #require(steps.lastIndex { $0.op == CSANDBOX_RMDIR && $0.path == "/chroot/gnu/store/z-gone" })
        #expect(lastRemoval < (try #require(steps.firstIndex { $0.op == CSANDBOX_PIVOT_ROOT })))
    }
}
