import LinuxSystem

/// The host side of a build tree (guix-daemon.md §1.1, security.md SEC-03, SEC-12):
/// `<TMPDIR>/guix-build-<drvName>-<N>` created exclusively with mode 0700 and owned by the
/// daemon (the wrapper), holding `top/` (0700, owned by the build user in pool mode) which the
/// sandbox sees as `/tmp/guix-build-<drvName>-0`. The builder can open up `top` but never the
/// wrapper, so no other user, and no other process of the build uid, can reach the tree.
public struct BuildDirectory: Sendable {
    /// Canonical TMPDIR the wrapper lives in.
    public let parent: String
    /// `guix-build-<drvName>-<N>`.
    public let name: String
    /// The name of the tree inside the sandbox: always suffix `-0`, so TMPDIR and N never leak.
    public let insidePath: String

    public var hostPath: String { parent + "/" + name }
    public var topPath: String { hostPath + "/top" }

    /// Creates the wrapper and `top`. Never reuses an existing entry: N increments on EEXIST, and
    /// the new directory is checked through its fd (a directory, ours, not group/world-accessible).
    /// `owner` (pool mode) receives `top` through fchown on the fd, never by path.
    /// `spare`: the name, in the canonical TMPDIR, of an emptied wrapper of an earlier build
    /// (holding only an empty `top`) to rename into place instead of making new directories;
    /// it gets the same checks, owner and modes.
    public static func create(temporaryDirectory: String, derivationName: String, owner: Ownership?,
                              reusing spare: [UInt8]? = nil) throws(SandboxError) -> BuildDirectory {
        let base = "guix-build-" + derivationName
        guard PathComponent.isValid(Array(derivationName.utf8)), base.utf8.count < 200 else {
            throw .buildDirectory(path: base, reason: "not a valid file name")
        }
        let parent: String
        let parentFD: FileDescriptor
        do {
            parent = try HostPath.canonical(temporaryDirectory)
            parentFD = try FileDescriptor.open(parent, [.readOnly, .directory])
        } catch {
            throw .buildDirectory(path: temporaryDirectory, reason: error.description)
        }
        for counter in 0..<100_000 {
            let name = "\(base)-\(counter)"
            do {
                if let spare {
                    try parentFD.renameNoReplace(at: spare, to: parentFD, Array(name.utf8))
                } else {
                    try parentFD.makeDirectory(at: Array(name.utf8), mode: 0o700)
                }
            } catch where error.errno == .fileExists {
                continue
            } catch {
                throw .buildDirectory(path: parent + "/" + name, reason: error.description)
            }
            let path = parent + "/" + name
            do {
                let wrapper = try parentFD.openDirectory(at: name)
                let status = try wrapper.status()
                guard status.type == .directory, status.owner == ProcessIdentity.effectiveUserID else {
                    throw SandboxError.buildDirectory(path: path, reason: "was replaced while being created")
                }
                // Exact modes whatever the umask; the group is the daemon's (guix-daemon forces it).
                try wrapper.changeOwner(ProcessIdentity.effectiveUserID, ProcessIdentity.effectiveGroupID)
                try wrapper.changeMode(0o700)
                if spare == nil { try wrapper.makeDirectory(at: Array("top".utf8), mode: 0o700) }
                let top = try wrapper.openDirectory(at: "top")
                if spare != nil {
                    guard try wrapper.entryNames() == [Array("top".utf8)], try top.entryNames().isEmpty else {
                        throw SandboxError.buildDirectory(path: path, reason: "spare build directory is not empty")
                    }
                    try top.changeOwner(owner?.uid ?? ProcessIdentity.effectiveUserID, owner?.gid ?? ProcessIdentity.effectiveGroupID)
                } else if let owner {
                    try top.changeOwner(owner.uid, owner.gid)
                }
                try top.changeMode(0o700)
            } catch let error as SandboxError {
                throw error
            } catch let error as SystemError {
                throw .buildDirectory(path: path, reason: error.description)
            } catch {
                throw .buildDirectory(path: path, reason: "\(error)")
            }
            return BuildDirectory(parent: parent, name: name, insidePath: "/tmp/\(base)-0")
        }
        throw .buildDirectory(path: parent + "/" + base, reason: "no free name")
    }

    /// Deletes the whole tree, fd-relative and without following symlinks.
    public func remove() throws(SandboxError) {
        do {
            let parentFD = try FileDescriptor.open(parent, [.readOnly, .directory])
            try parentFD.removeTree(at: Array(name.utf8))
        } catch {
            throw .buildDirectory(path: hostPath, reason: error.description)
        }
    }
}
