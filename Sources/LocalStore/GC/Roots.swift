/// Finding GC roots (gc.cc findRoots / readTempRoots), guix-daemon.md §8.2:
///
/// - permanent roots: a recursive scan of `<state>/gcroots`, `<state>/profiles` and
///   `<state>/manifests`: a symlink into the store is a root; a symlink elsewhere is followed one
///   level (indirect roots: `gcroots/auto/<hash>` → the user's link → the store), and an indirect
///   root whose link is gone is removed; a regular file whose name is a store base name is a root.
/// - temp roots: `<state>/temproots/<pid>` of live processes (see TempRoots.swift).
import StoreFormats
import LinuxSystem

extension LocalStore {
    /// Every permanent root: the link (or file) that holds it → the store path it holds.
    public func findRoots() throws(LocalStoreError) -> [String: StorePath] {
        var roots: [String: StorePath] = [:]
        for dir in [layout.gcRootsDirectory, layout.profilesDirectory, layout.manifestsDirectory] {
            try findRoots(dir, into: &roots, depth: 0)
        }
        return roots
    }

    private func findRoots(_ path: String, into roots: inout [String: StorePath], depth: Int) throws(LocalStoreError) {
        guard depth < 64 else { return }
        let status: FileStatus
        do { status = try FileDescriptor.currentDirectory.status(at: Array(path.utf8)) } catch { return }  // vanished or unreadable: skip
        switch status.type {
        case .directory:
            guard let dir = try? FileDescriptor.currentDirectory.openDirectory(at: path), let names = try? dir.entryNames() else { return }
            for name in names {
                try findRoots(path + "/" + String(decoding: name, as: UTF8.self), into: &roots, depth: depth + 1)
            }
        case .symlink:
            guard let target = readLink(path) else { return }
            let resolved = Self.resolve(target, relativeTo: path)
            if storeDirectory.contains(resolved) {
                foundRoot(path, resolved, into: &roots)
            } else if let status = try? FileDescriptor.currentDirectory.status(at: Array(resolved.utf8)) {
                // Indirect: follow one more link, as guix-daemon does.
                guard status.type == .symlink, let second = readLink(resolved) else { return }
                let resolved2 = Self.resolve(second, relativeTo: resolved)
                if storeDirectory.contains(resolved2) { foundRoot(resolved, resolved2, into: &roots) }
            } else if path.hasPrefix(layout.autoRootsDirectory + "/") {
                // The user's link is gone: this indirect root is stale.
                _ = try? FileDescriptor.currentDirectory.remove(at: Array(path.utf8))
            }
        case .regular:
            let base = path.split(separator: "/").last.map(String.init) ?? ""
            if let storePath = try? StorePath(baseName: base, rules: .nix), (try? isValidPath(storePath)) == true {
                roots[path] = storePath
            }
        default:
            return
        }
    }

    private func foundRoot(_ link: String, _ target: String, into roots: inout [String: StorePath]) {
        guard let path = try? storeDirectory.storePath(containing: target, rules: .nix),
              (try? isValidPath(path)) == true else { return }
        roots[link] = path
    }

    private func readLink(_ path: String) -> String? {
        guard let bytes = try? FileDescriptor.currentDirectory.readLink(at: Array(path.utf8)) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// An absolute, `.`/`..`-free form of `target` read from the link at `link`.
    static func resolve(_ target: String, relativeTo link: String) -> String {
        let base = target.hasPrefix("/") ? "" : String(link[..<(link.lastIndex(of: "/") ?? link.startIndex)])
        var parts: [Substring] = []
        for component in (base + "/" + target).split(separator: "/") {
            if component == "." { continue }
            if component == ".." { _ = parts.popLast(); continue }
            parts.append(component)
        }
        return "/" + parts.joined(separator: "/")
    }

    /// AddIndirectRoot: `gcroots/auto/<nix32(sha1(link))>` → `link` (formats.md §2.6), created
    /// under a temporary name and renamed into place.
    public func addIndirectRoot(_ link: String) throws(LocalStoreError) {
        let name = Hasher.hash(.sha1, link).nix32
        let auto = layout.autoRootsDirectory
        do {
            try HostPath.makeDirectories(auto)
            let dir = try FileDescriptor.currentDirectory.openDirectory(at: auto)
            let temporary = Array(".tmp-\(ProcessIdentity.processID)-\(UInt64.random(in: 0...UInt64.max))".utf8)
            try dir.makeSymlink(at: temporary, target: Array(link.utf8))
            try dir.rename(at: temporary, to: dir, Array(name.utf8))
        } catch { throw .system(error) }
    }

    /// Reads every live process's temp roots. Files of dead processes (whose lock we can take)
    /// are deleted. The returned descriptors hold read locks that keep their owners from adding
    /// roots until the collection ends.
    func readTempRoots() throws(LocalStoreError) -> (roots: Set<String>, locks: [FileDescriptor]) {
        var roots = Set<String>()
        var locks: [FileDescriptor] = []
        do {
            let dir = try FileDescriptor.currentDirectory.openDirectory(at: layout.tempRootsDirectory)
            for name in try dir.entryNames() {
                guard let fd = try? dir.open(at: name, [.readWrite, .noFollow]) else { continue }
                // OFD locks: even our own process's file (locked through another fd) reads as live.
                if try fd.lock(.write, wait: false) {
                    try dir.remove(at: name)
                    continue
                } else {
                    try fd.lock(.read, wait: true)
                }
                for root in try fd.readAll().split(separator: 0) {
                    roots.insert(String(decoding: root, as: UTF8.self))
                }
                locks.append(fd)
            }
        } catch { throw .system(error) }
        return (roots, locks)
    }
}
