/// The two directories a chroot build lives in, and how they go away:
/// - the chroot `<store>/<drv>.chroot` (0750, daemon-owned) holding `top` (0750, group = build
///   group in pool mode), the mount point of the sandbox's `/`, `store` (01775, root:G in
///   pool mode), bound as the store inside, and `mount-point`, an empty file the file mount
///   points in `store` are hard links to. Only `store` and the mount points of the inputs are
///   on disk (in the store's file system, so outputs are renamed into place after
///   canonicalisation: SEC-09); `/dev`, `/etc`, `/tmp`… live in a tmpfs that dies with the
///   sandbox. That saves a dozen directory and file creations and deletions per build, which
///   cost milliseconds each on disks mounted with `discard`. A recycled chroot keeps its
///   mount points (SpareDirectories), which the next build's sandbox reuses or removes;
/// - the build tree (Sandbox's `BuildDirectory`, SEC-03/SEC-12).
/// Keep-failed (`-K`, §4.8) makes the tree safe and hands it to the client (SEC-03).
import LinuxSystem
import Sandbox
import StoreFormats

extension BuildDirectory {
    /// A new build tree, from a spare one when there is one (SpareDirectories).
    static func make(temporaryDirectory: String, derivationName: String, owner: Ownership?) throws(SandboxError) -> BuildDirectory {
        if let parent = try? HostPath.canonical(temporaryDirectory), let spare = SpareDirectories.shared.take(.buildTree, in: parent) {
            if let made = try? create(temporaryDirectory: parent, derivationName: derivationName, owner: owner, reusing: spare) {
                return made
            }
            try? FileDescriptor.open(parent, [.readOnly, .directory]).removeTree(at: spare)
        }
        return try create(temporaryDirectory: temporaryDirectory, derivationName: derivationName, owner: owner)
    }

    /// Off the critical path (Janitor): the wrapper is renamed within TMPDIR, then emptied
    /// and kept as a spare if `recyclable` (as for `ChrootDirectory.remove`), or deleted.
    func dispose(recyclable: Bool) {
        guard let parentFD = try? FileDescriptor.open(parent, [.readOnly, .directory]) else { return }
        Janitor.shared.dispose(Array(name.utf8), in: parentFD, recycle: recyclable ? (.buildTree, parent) : nil)
    }
}

enum KeptBuildTree {
    /// §4.8: `top` 0755; for a known non-root client, strip s-bits and group/world write,
    /// refuse devices, chown everything to the client (fd-relative, no symlink following), then
    /// pivot `top` out of the daemon-owned wrapper so the client gets `<TMPDIR>/guix-build-…`.
    /// Returns the path kept.
    static func keep(_ directory: BuildDirectory, clientUID: Int64, clientGID: Int64) throws(BuildError) -> String {
        do {
            let wrapper = try FileDescriptor.open(directory.hostPath, [.readOnly, .directory, .noFollow])
            let top = try wrapper.openDirectory(at: "top")
            try top.changeMode(0o755)
            guard clientUID > 0 else { return directory.topPath }
            let gid = clientGID > 0 ? UInt32(clientGID) : UInt32.max
            try secure(top, uid: UInt32(clientUID), gid: gid)
            try top.changeOwner(UInt32(clientUID), gid)
            let parent = try FileDescriptor.open(directory.parent, [.readOnly, .directory])
            let pivot = Array((directory.name + ".pivot").utf8)
            try parent.rename(at: Array(directory.name.utf8), to: parent, pivot)
            let pivotFD = try parent.openDirectory(at: pivot)
            try pivotFD.rename(at: Array("top".utf8), to: parent, Array(directory.name.utf8))
            try parent.remove(at: pivot, directory: true)
            return directory.hostPath
        } catch { throw .system(error) }
    }

    /// secureFilePerms + chown, recursively under `directory` (whose own mode is handled by
    /// the caller). FIFOs and sockets are tolerated in a kept tree; devices are removed.
    static func secure(_ directory: FileDescriptor, uid: UInt32, gid: UInt32) throws(SystemError) {
        for name in try directory.entryNames() {
            let status = try directory.status(at: name)
            switch status.type {
            case .symlink:
                try directory.changeOwner(at: name, uid, gid)
            case .directory:
                let child = try directory.openDirectory(at: name)
                try child.changeMode(status.permissions & 0o0755)
                try secure(child, uid: uid, gid: gid)
                try child.changeOwner(uid, gid)
            case .regular, .fifo, .socket:
                try directory.changeMode(at: name, status.permissions & 0o0755)
                try directory.changeOwner(at: name, uid, gid)
            default:
                try directory.remove(at: name)
            }
        }
    }
}
