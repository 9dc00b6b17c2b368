import CSandbox

/// One read-only view of the directory the inputs' read-only binds come from (the store,
/// RootPlan's `readOnlyView`), so each
/// input costs one mount call: a bind copies its source mount's flags, read-only included, so
/// binding an input from the view needs neither the statfs nor the remount a bind from the
/// writable host store does (≈11 µs of ≈18 µs per input, 200 inputs for the last builds of
/// a deep DAG). The view is the source directory's own mount only (no MS_REC: the sandbox's
/// root, mounted below the store, must not be copied into it), at a hidden directory of the
/// root that is unmounted and removed again before pivot_root: the builder never sees it,
/// and its inputs are the same read-only, locked mounts as before (security.md P-1.4).
extension SetupPlan.Builder {
    /// Where the view is mounted while the binds are made (inside the root).
    static let viewMountPoint = "/.cloister-read-only-view"
    /// Fewer binds than this from one directory are made directly (the view's own six calls
    /// cost about what it saves on three).
    static let viewFrom = 2

    /// Mounts the view of `source` if at least `viewFrom` plain read-only binds come from it;
    /// binds from it then go through the view.
    mutating func openView(of source: String, _ entries: [RootEntry], sources: [String: BindSource]) {
        var count = 0
        for case .bind(let inside, let outside, let options) in entries {
            if inside == Self.viewMountPoint || inside.hasPrefix(Self.viewMountPoint + "/") { return }
            guard options == [.readOnly], sources[outside].map(\.isMountable) ?? true, InsidePath.parent(outside) == source else { continue }
            count += 1
        }
        guard count >= Self.viewFrom, source != "/" else { return }
        makeDirectory(Self.viewMountPoint, mode: 0o700, phase: "mountIntoChroot")
        var step = SetupStep(CSANDBOX_BIND, phase: "mountIntoChroot", action: "bind-mounting `\(source)' to `\(Self.viewMountPoint)' read-only")
        step.path = viewPath
        step.path2 = source
        step.mountFlags = MountFlag.readOnly
        step.bindAlone = true
        add(step)
        view = source
    }

    /// The bind of `outside` from the view instead of the host, if the view holds it.
    func viewed(_ step: inout SetupStep, outside: String, options: BindOptions) {
        guard let view, options == [.readOnly], InsidePath.parent(outside) == view, let name = InsidePath.baseName(outside) else { return }
        step.path2 = viewPath + "/" + name
        step.mountFlags = 0
    }

    /// The view's host path, absolute whatever the cwd.
    var viewPath: String { (root == "/" ? "" : root) + Self.viewMountPoint }

    /// Unmounts and removes the view (the binds made from it stay).
    mutating func closeView() {
        guard view != nil else { return }
        var umount = SetupStep(CSANDBOX_UMOUNT, phase: "mountIntoChroot", action: "unmounting `\(Self.viewMountPoint)'")
        umount.path = viewPath
        umount.a = MountFlag.detach
        add(umount)
        var rmdir = SetupStep(CSANDBOX_RMDIR, phase: "mountIntoChroot", action: "removing `\(Self.viewMountPoint)'")
        rmdir.path = viewPath
        add(rmdir)
        directories.remove(Self.viewMountPoint)
        view = nil
    }
}

extension BindSource {
    /// Bound (not copied as a symlink).
    var isMountable: Bool {
        if case .symlink = self { return false }
        return true
    }
}
