/// The on-disk root of a chroot build (see BuildTree.swift for the layout): created, or a
/// spare one taken and checked; its input mount points made; adapted to a tmpfs root; handed
/// to the Janitor when done.
import LinuxSystem
import Sandbox
import StoreFormats

struct ChrootDirectory {
    let name: [UInt8]
    let path: String
    /// Mount points `store` holds: kept by a recycled chroot, then made by `makeMountPoints`.
    var mountPoints: [(name: [UInt8], kind: MountPointKind)] = []
    var topPath: String { path + "/top" }
    /// Where the builder's store directory is on the host: outputs appear here.
    var storePath: String { path + "/store" }
    /// The empty file file mount points in `store` are hard links to (RootPlan.mountPointStub).
    var stubPath: String { path + "/" + Self.stubName }
    static let stubName = "mount-point"

    static func create(for drvPath: StorePath, storeFD: FileDescriptor, storePath: String, groupID: UInt32?) throws(BuildError) -> ChrootDirectory {
        let name = Array((drvPath.baseName + ".chroot").utf8)
        let path = storePath + "/" + drvPath.baseName + ".chroot"
        if let spare = SpareDirectories.shared.take(.chroot, in: storePath) {
            if let kept = try? reuse(spare, as: name, storeFD: storeFD, groupID: groupID) {
                return ChrootDirectory(name: name, path: path, mountPoints: kept)
            }
            try? storeFD.removeTree(at: spare)
        }
        do {
            try storeFD.removeTree(at: name)
            try storeFD.makeDirectory(at: name, mode: 0o750)
            let chroot = try storeFD.openDirectory(at: name)
            try chroot.changeMode(0o750)
            try chroot.makeDirectory(at: Array("top".utf8), mode: 0o750)
            let top = try chroot.openDirectory(at: "top")
            try top.changeMode(0o750)
            if let groupID { try top.changeOwner(0, groupID) }
            try chroot.makeDirectory(at: Array("store".utf8), mode: 0o755)
            let store = try chroot.openDirectory(at: "store")
            if let groupID { try store.changeOwner(0, groupID) }
            try store.changeMode(0o1775)
            try chroot.open(at: Array(stubName.utf8), [.writeOnly, .create, .exclusive, .noFollow], mode: 0o600).close()
        } catch { throw .system(error) }
        return ChrootDirectory(name: name, path: path)
    }

    /// A spare skeleton renamed into place, then given exactly what `create` gives a new one;
    /// returns the mount points its `store` kept (links to its stub and empty directories of
    /// its own, as SpareDirectories left them; anything else and it is not used).
    private static func reuse(_ spare: [UInt8], as name: [UInt8], storeFD: FileDescriptor,
                              groupID: UInt32?) throws(SystemError) -> [(name: [UInt8], kind: MountPointKind)] {
        try storeFD.removeTree(at: name)
        try storeFD.renameNoReplace(at: spare, to: storeFD, name)
        let chroot = try storeFD.openDirectory(at: name)
        let status = try chroot.status()
        guard status.type == .directory, status.owner == ProcessIdentity.effectiveUserID,
              try chroot.entryNames().sorted(by: { $0.lexicographicallyPrecedes($1) }) == skeleton
        else { throw SystemError("reuse", errno: .fileExists) }
        try chroot.changeMode(0o750)
        let stub = try stubStatus(chroot)
        let top = try chroot.openDirectory(at: "top")
        let store = try chroot.openDirectory(at: "store")
        guard try top.entryNames().isEmpty else { throw SystemError("reuse", errno: .fileExists) }
        var recycled: [(name: [UInt8], kind: MountPointKind)] = []
        for entry in try store.entries() {
            switch entry.type {
            case .regular where entry.inode == stub.inode: recycled.append((entry.name, .file))
            case .directory: recycled.append((entry.name, .directory))
            default: throw SystemError("reuse", errno: .fileExists)
            }
        }
        try top.changeOwner(groupID == nil ? ProcessIdentity.effectiveUserID : 0, groupID ?? ProcessIdentity.effectiveGroupID)
        try top.changeMode(0o750)
        try store.changeOwner(groupID == nil ? ProcessIdentity.effectiveUserID : 0, groupID ?? ProcessIdentity.effectiveGroupID)
        try store.changeMode(0o1775)
        return recycled
    }

    /// What a chroot holds, sorted.
    static let skeleton = [Array(stubName.utf8), Array("store".utf8), Array("top".utf8)]

    /// The stub, checked: an empty regular file of ours.
    static func stubStatus(_ chroot: FileDescriptor) throws(SystemError) -> FileStatus {
        let stub = try chroot.status(at: Array(stubName.utf8))
        guard stub.type == .regular, stub.size == 0, stub.owner == ProcessIdentity.effectiveUserID else {
            throw SystemError("reuse", errno: .fileExists)
        }
        return stub
    }

    /// A mount point in `store` for every input (a link to the stub for a file, an empty
    /// directory for a directory; none for a symlink, which the sandbox copies), kept ones
    /// used again and the others removed. Made here, fd-relative, rather than in the sandbox:
    /// a hard link cannot cross the sandbox's bind of `store` to reach the stub. The sandbox
    /// still checks each against its source (`RootPlan.existingMountPoints`).
    mutating func makeMountPoints(for inputs: Set<StorePath>, storeFD: FileDescriptor) throws(SystemError) {
        let chroot = try storeFD.openDirectory(at: name)
        let store = try chroot.openDirectory(at: "store")
        var unused = Dictionary(mountPoints.map { ($0.name, $0.kind) }, uniquingKeysWith: { first, _ in first })
        var made: [(name: [UInt8], kind: MountPointKind)] = []
        for input in inputs {
            let name = Array(input.baseName.utf8)
            if let kind = unused.removeValue(forKey: name) {
                made.append((name, kind))
                continue
            }
            guard let source = try? storeFD.status(at: name) else { continue }  // The sandbox names it.
            switch source.type {
            case .directory:
                try store.makeDirectory(at: name, mode: 0o755)
                made.append((name, .directory))
            case .symlink:
                continue
            default:
                do { try chroot.link(at: Array(Self.stubName.utf8), to: store, name) } catch where error.errno == .tooManyLinks {
                    try store.open(at: name, [.writeOnly, .create, .exclusive, .noFollow], mode: 0o600).close()
                }
                made.append((name, .file))
            }
        }
        for (name, kind) in unused { try store.remove(at: name, directory: kind == .directory) }
        mountPoints = made
    }

    /// Turns the Guix chroot spec (root bound onto itself, store directory made inside it) into
    /// the tmpfs-rooted one described above: same tree as seen by the builder.
    func adapt(_ spec: SandboxSpec, storeDirectory: String) -> SandboxSpec {
        guard var root = spec.root else { return spec }
        var spec = spec
        root.kind = .tmpfs
        root.entries = root.entries.map { entry in
            if case .directory(let inside, _, _) = entry, inside == storeDirectory {
                return .bind(inside: storeDirectory, outside: storePath, options: [.noSetuid, .noDevices])
            }
            return entry
        }
        let prefix = storeDirectory + "/"
        root.existingMountPoints = Dictionary(mountPoints.map { (prefix + String(decoding: $0.name, as: UTF8.self), $0.kind) },
                                              uniquingKeysWith: { first, _ in first })
        spec.root = root
        return spec
    }

    /// Off the critical path (Janitor).
    /// `recyclable`: no process outside the sandbox can hold an fd into it (not a fixed-output
    /// build, whose network could pass one out), so the skeleton may serve again.
    func remove(storeFD: FileDescriptor, recyclable: Bool) {
        let parent = String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)])
        Janitor.shared.dispose(name, in: storeFD, recycle: recyclable ? (.chroot, parent) : nil)
    }
}
