import LinuxSystem
import Sandbox

/// Test support: the daemon makes its chroots in Builder (`Builder/Running/ChrootDirectory`,
/// recycled and adapted to a tmpfs root); the sandbox tests build this plain one, as
/// guix-daemon lays it out.
///
/// The on-disk root of a chroot build (guix-daemon.md §1.2, security.md SEC-09):
/// `<drvPath>.chroot` (0750, the daemon's) holding `top` (0750; `root:<build group>` in pool
/// mode), which becomes `/`. It lives in the store's directory so that outputs, built at
/// `top<storeDir>/<name>`, can be renamed into the store — and only once canonicalised: until
/// then the 0750 wrapper keeps every other user from reaching a setuid file a builder made.
struct ChrootDirectory: Sendable {
    /// Directory holding the store (the host location of the store directory).
    let parent: String
    /// `<drv base name>.chroot`.
    let name: String

    var path: String { parent + "/" + name }
    /// The directory that becomes `/` (`RootPlan.directory`).
    var root: String { path + "/top" }

    /// Creates it afresh, deleting whatever a previous, interrupted build left (fd-relative,
    /// never following symlinks). `buildGroup` (pool mode) gets group ownership of `top`.
    static func create(storeDirectory: String, derivationBaseName: String, buildGroup: UInt32?) throws(SandboxError) -> ChrootDirectory {
        let name = derivationBaseName + ".chroot"
        guard PathComponent.isValid(Array(derivationBaseName.utf8)) else {
            throw .buildDirectory(path: name, reason: "not a valid file name")
        }
        let path = storeDirectory + "/" + name
        do {
            let store = try FileDescriptor.open(storeDirectory, [.readOnly, .directory])
            try store.removeTree(at: Array(name.utf8))
            try store.makeDirectory(at: Array(name.utf8), mode: 0o700)
            let wrapper = try store.openDirectory(at: name)
            let status = try wrapper.status()
            guard status.owner == ProcessIdentity.effectiveUserID else {
                throw SandboxError.buildDirectory(path: path, reason: "was replaced while being created")
            }
            try wrapper.changeMode(0o750)
            try wrapper.makeDirectory(at: Array("top".utf8), mode: 0o700)
            let top = try wrapper.openDirectory(at: "top")
            if let buildGroup { try top.changeOwner(0, buildGroup) }
            try top.changeMode(0o750)
        } catch let error as SandboxError {
            throw error
        } catch let error as SystemError {
            throw .buildDirectory(path: path, reason: error.description)
        } catch {
            throw .buildDirectory(path: path, reason: "\(error)")
        }
        return ChrootDirectory(parent: storeDirectory, name: name)
    }

    /// Deletes it (after the outputs were moved out).
    func remove() throws(SandboxError) {
        do {
            try FileDescriptor.open(parent, [.readOnly, .directory]).removeTree(at: Array(name.utf8))
        } catch {
            throw .buildDirectory(path: path, reason: error.description)
        }
    }
}
