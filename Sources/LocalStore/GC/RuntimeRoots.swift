/// Runtime roots (what `guix gc --list-busy` reports to guix-daemon's GC): store items in use
/// by running processes — their executable, working directory, open files, mapped files and
/// environment, read from /proc. A program running from a dead path keeps that path alive.
/// Processes we cannot inspect (permissions, exited meanwhile) are skipped.
import StoreFormats
import LinuxSystem

extension LocalStore {
    public func findRuntimeRoots() -> Set<StorePath> {
        Set(findRuntimeRootLinks().map(\.path))
    }

    /// The same roots with where each was seen, named as nix-daemon's FindRoots names them:
    /// `/proc/<pid>/exe`, `…/cwd`, `…/root`, `…/fd/<n>`, `…/maps`, `…/environ`.
    public func findRuntimeRootLinks() -> [(link: String, path: StorePath)] {
        var found: [(link: String, path: StorePath)] = []
        guard let proc = try? FileDescriptor.currentDirectory.openDirectory(at: "/proc"),
              let pids = try? proc.entryNames() else { return found }
        let prefix = Array((storeDirectory.path + "/").utf8)
        func record(_ bytes: [UInt8], _ link: String) {
            var paths = Set<StorePath>()
            scan(bytes, prefix: prefix, into: &paths)
            for path in paths { found.append((link, path)) }
        }
        for pid in pids where !pid.isEmpty && pid.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            guard let process = try? proc.openDirectory(at: pid) else { continue }
            let base = "/proc/" + String(decoding: pid, as: UTF8.self)
            for link in ["exe", "cwd", "root"] {
                if let target = try? process.readLink(at: Array(link.utf8)) { record(target, base + "/" + link) }
            }
            if let fds = try? process.openDirectory(at: "fd"), let names = try? fds.entryNames() {
                for name in names {
                    if let target = try? fds.readLink(at: name) { record(target, base + "/fd/" + String(decoding: name, as: UTF8.self)) }
                }
            }
            for file in ["maps", "environ"] {
                if let fd = try? process.open(at: Array(file.utf8), [.readOnly, .noFollow]), let bytes = try? fd.readAll() {
                    record(bytes, base + "/" + file)
                }
            }
        }
        return found
    }

    /// Live processes' temp roots, each named `{temp:<pid>}` as nix-daemon's FindRoots names
    /// them. Files of dead processes are skipped (the collector removes them).
    public func findTempRootLinks() -> [(link: String, path: StorePath)] {
        var found: [(link: String, path: StorePath)] = []
        guard let dir = try? FileDescriptor.currentDirectory.openDirectory(at: layout.tempRootsDirectory),
              let names = try? dir.entryNames() else { return found }
        for name in names {
            guard let fd = try? dir.open(at: name, [.readWrite, .noFollow]) else { continue }
            if (try? fd.lock(.write, wait: false)) == true { continue }
            let pid = String(decoding: name.prefix { $0 != UInt8(ascii: "-") }, as: UTF8.self)
            for root in (try? fd.readAll())?.split(separator: 0) ?? [] {
                if let path = try? parseStorePath(String(decoding: root, as: UTF8.self)) { found.append(("{temp:\(pid)}", path)) }
            }
        }
        return found
    }

    /// Every `<store>/<hash>-<name>` in `bytes`; the name ends at the first byte that cannot be
    /// in a store path name.
    private func scan(_ bytes: [UInt8], prefix: [UInt8], into found: inout Set<StorePath>) {
        guard bytes.count > prefix.count, let first = prefix.first else { return }
        var i = 0
        while i + prefix.count <= bytes.count {
            guard bytes[i] == first, bytes[i..<(i + prefix.count)].elementsEqual(prefix) else { i += 1; continue }
            var end = i + prefix.count
            while end < bytes.count, Self.isNameByte(bytes[end]) { end += 1 }
            let base = String(decoding: bytes[(i + prefix.count)..<end], as: UTF8.self)
            if let path = try? StorePath(baseName: base, rules: .nix) { found.insert(path) }
            i = end
        }
    }

    private static func isNameByte(_ b: UInt8) -> Bool {
        switch b {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
        case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "?"), UInt8(ascii: "="): true
        default: false
        }
    }
}
