/// Runtime roots (what `guix gc --list-busy` reports to guix-daemon's GC): store items in use
/// by running processes — their executable, working directory, open files, mapped files and
/// environment, read from /proc. A program running from a dead path keeps that path alive.
/// Processes we cannot inspect (permissions, exited meanwhile) are skipped.
import StoreFormats
import LinuxSystem

extension LocalStore {
    public func findRuntimeRoots() -> Set<StorePath> {
        var found = Set<StorePath>()
        guard let proc = try? FileDescriptor.currentDirectory.openDirectory(at: "/proc"),
              let pids = try? proc.entryNames() else { return found }
        let prefix = Array((storeDirectory.path + "/").utf8)
        for pid in pids where !pid.isEmpty && pid.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            guard let process = try? proc.openDirectory(at: pid) else { continue }
            for link in ["exe", "cwd", "root"] {
                if let target = try? process.readLink(at: Array(link.utf8)) { scan(target, prefix: prefix, into: &found) }
            }
            if let fds = try? process.openDirectory(at: "fd"), let names = try? fds.entryNames() {
                for name in names {
                    if let target = try? fds.readLink(at: name) { scan(target, prefix: prefix, into: &found) }
                }
            }
            for file in ["maps", "environ"] {
                if let fd = try? process.open(at: Array(file.utf8), [.readOnly, .noFollow]), let bytes = try? fd.readAll() {
                    scan(bytes, prefix: prefix, into: &found)
                }
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
