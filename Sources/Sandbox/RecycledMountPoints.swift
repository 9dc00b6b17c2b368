import CSandbox

/// Mount points already on disk (RootPlan's `existingMountPoints`): made by the caller, or
/// left by an earlier sandbox on a recycled skeleton — a deep DAG's builds share most of their
/// inputs, and creating and deleting a name per input per build is what cost (ext4 directory
/// entries; a new directory is a new inode, searched past every recently deleted one). A
/// mount point is only ever seen covered by its bind mount, so which inode it is, and its
/// mode, stay invisible; the ones this sandbox does not bind go before the builder starts.
extension SetupPlan.Builder {
    /// Uses the recycled mount point at `inside` if it is of `kind`; one of the other kind is
    /// removed (the caller then makes a new one).
    mutating func reuse(_ inside: String, as kind: MountPointKind) -> Bool {
        guard let found = recycled.removeValue(forKey: inside) else { return false }
        if found == kind { return true }
        remove(inside, found)
        return false
    }

    /// Removes every recycled mount point no bind used.
    mutating func removeUnusedRecycled() {
        for (inside, kind) in recycled.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
            remove(inside, kind)
        }
        recycled = [:]
    }

    private mutating func remove(_ inside: String, _ kind: MountPointKind) {
        var step = SetupStep(kind == .directory ? CSANDBOX_RMDIR : CSANDBOX_UNLINK, phase: "mountIntoChroot",
                             action: "removing the unused mount point `\(inside)'")
        step.path = host(inside)
        add(step)
    }
}
