import CSandbox

/// File mount points: empty files to bind a file onto. Where a directory gets several (the
/// inputs of a store whose closure holds many files), each is a hard link to one stub:
/// creating inodes is what costs (on ext4 without a journal each new inode is searched past
/// every recently deleted one), links are not. (A caller that recycles its skeleton can do
/// better: RootPlan's `existingMountPoints`.)
extension SetupPlan.Builder {
    /// Never a store path's name (nix32 hash first); unlinked before the builder runs.
    static let stubName = ".cloister-mount-point"

    mutating func countFileMountPoint(_ inside: String) {
        fileMountPoints[InsidePath.parent(inside), default: 0] += 1
    }

    /// An empty file to bind a file onto: a link to the stub if the directory gets several,
    /// else a new file.
    mutating func fileMountPoint(_ inside: String) {
        let directory = InsidePath.parent(inside)
        guard fileMountPoints[directory, default: 0] >= 2 else {
            createFile(inside, contents: [], mode: 0o600, phase: "mountIntoChroot")
            return
        }
        let stub = (directory == "/" ? "" : directory) + "/" + Self.stubName
        if !stubs.contains(where: { $0.directory == directory }) {
            createFile(stub, contents: [], mode: 0o600, phase: "mountIntoChroot")
            stubs.append((directory, stub))
        }
        linkToStub(inside, stub: host(stub))
    }

    mutating func linkToStub(_ inside: String, stub: String) {
        var step = SetupStep(CSANDBOX_LINK, phase: "mountIntoChroot", action: "creating file `\(inside)'")
        step.path = host(inside)
        step.path2 = stub
        step.mode = 0o600
        add(step)
    }

    /// The stubs' own names go before the builder can see them (their links stay, covered by mounts).
    mutating func removeMountPointStubs() {
        for (_, stub) in stubs {
            var step = SetupStep(CSANDBOX_UNLINK, phase: "mountIntoChroot", action: "removing `\(stub)'")
            step.path = host(stub)
            add(step)
        }
    }
}
