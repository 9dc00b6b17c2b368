/// What a store must look like after anything (a crash, a full disk, a hostile NAR), checked
/// from outside the code under test where possible:
///
/// - the database passes `PRAGMA integrity_check` and `foreign_key_check`, and every Refs row
///   joins two valid paths;
/// - every valid path exists, its NAR (dumped by NARDumper, independent of the add code) has the
///   registered hash and size, and every node is canonical (0444/0555, mtime 1, owner euid);
/// - a valid text object that lists its references in its first lines (`refs` block, as the
///   crash worker writes them) has exactly those references registered: ValidPaths and Refs
///   landed in one transaction; a valid `.drv` has its DerivationOutputs rows;
/// - after a GC, the store holds only `.links` and valid paths, and every `.links` entry still
///   has the contents its name promises and is used by some store file.
import Glibc
import StoreFormats
import LinuxSystem
@testable import LocalStore

struct StoreInvariants {
    let store: LocalStore
    var problems: [String] = []
    var deduplicationWindows: [String] = []

    init(_ store: LocalStore) { self.store = store }

    mutating func problem(_ text: String) { problems.append(text) }

    /// Database and valid-path checks; returns the valid paths.
    @discardableResult
    mutating func checkValidPaths() throws -> [StorePath] {
        let db = store.database.db
        let integrity = try db.texts("PRAGMA integrity_check")
        if integrity != ["ok"] { problem("integrity_check: \(integrity)") }
        var fkRows = 0
        try db.query("PRAGMA foreign_key_check") { _ in fkRows += 1 }
        if fkRows != 0 { problem("foreign_key_check: \(fkRows) rows") }
        let dangling = try db.integer("""
            select count(*) from Refs where referrer not in (select id from ValidPaths)
            or reference not in (select id from ValidPaths)
            """) ?? -1
        if dangling != 0 { problem("\(dangling) Refs rows point at no valid path") }

        let paths = try store.queryAllValidPaths()
        for path in paths {
            let abs = path.absolute(in: store.storeDirectory)
            guard let info = try store.queryPathInfo(path) else { problem("\(abs): no info"); continue }
            guard access(abs, F_OK) == 0 || isSymlink(abs) else { problem("\(abs): valid but missing"); continue }
            do {
                let dumped = try NARDumper.hash(path: abs)
                if dumped.hash != info.narHash { problem("\(abs): NAR hash \(dumped.hash.prefixedNix32) ≠ registered \(info.narHash.prefixedNix32)") }
                if dumped.size != info.narSize { problem("\(abs): NAR size \(dumped.size) ≠ registered \(info.narSize)") }
            } catch { problem("\(abs): cannot dump: \(error)") }
            checkCanonical(abs)
            if path.name.hasPrefix("t-") { try checkDeclaredReferences(path, info) }
            if path.isDerivation { try checkDerivationOutputs(path) }
        }
        return paths
    }

    /// Text objects of the crash worker start with `refs\n<path>\n…\n--\n`.
    mutating func checkDeclaredReferences(_ path: StorePath, _ info: ValidPathInfo) throws {
        let abs = path.absolute(in: store.storeDirectory)
        guard let fd = try? FileDescriptor.open(abs, [.readOnly, .noFollow]), let bytes = try? fd.readAll() else { return }
        let text = String(decoding: bytes, as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.first == "refs", let end = lines.firstIndex(of: "--") else { return }
        let listed = Set(lines[1..<end].map(String.init))
        let registered = Set(info.references.map { $0.absolute(in: store.storeDirectory) })
        if listed != registered { problem("\(abs): registered references \(registered.sorted()) ≠ declared \(listed.sorted())") }
    }

    mutating func checkDerivationOutputs(_ path: StorePath) throws {
        let abs = path.absolute(in: store.storeDirectory)
        guard let fd = try? FileDescriptor.open(abs, [.readOnly, .noFollow]), let bytes = try? fd.readAll() else { return }
        guard let expected = try? store.readDerivationOutputs(path, bytes, check: false) else { return }
        let rows = try store.queryDerivationOutputs(path)
        if rows.count != expected.count { problem("\(abs): \(rows.count) DerivationOutputs rows, derivation has \(expected.count) outputs") }
    }

    /// Every node: only regular files, directories, symlinks; non-symlinks 0444 or 0555; mtime 1;
    /// owned by the effective user.
    ///
    /// One exception, counted in `deduplicationWindows` rather than `problems`: a directory left
    /// 0755 (owner-writable) or with a fresh mtime by a crash during deduplication's one
    /// link+rename, the same window guix-daemon has (optimise-store.cc makes the directory
    /// writable around each replacement). Contents are unaffected: the NAR hash still matches.
    mutating func checkCanonical(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { problem("\(path): lstat \(errno)"); return }
        let type = st.st_mode & S_IFMT
        let mode = st.st_mode & 0o7777
        if type == S_IFDIR && (mode == 0o755 || mode == 0o555) && (mode != 0o555 || st.st_mtim.tv_sec != 1) {
            deduplicationWindows.append(path)
        } else {
            if st.st_mtim.tv_sec != 1 { problem("\(path): mtime \(st.st_mtim.tv_sec)") }
            if type != S_IFLNK && mode != 0o444 && mode != 0o555 { problem("\(path): mode \(String(mode, radix: 8))") }
        }
        if st.st_uid != geteuid() { problem("\(path): owner \(st.st_uid)") }
        if type == S_IFLNK { return }
        if type == S_IFDIR {
            guard let dir = opendir(path) else { problem("\(path): opendir \(errno)"); return }
            defer { closedir(dir) }
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
                if name == "." || name == ".." { continue }
                checkCanonical(path + "/" + name)
            }
        } else if type != S_IFREG {
            problem("\(path): unsupported type \(String(type, radix: 8))")
        }
    }

    /// Top-level store entries that are neither `.links` nor valid paths.
    func strayEntries(validPaths: [StorePath]) -> [String] {
        let valid = Set(validPaths.map(\.baseName))
        return listDirectory(store.layout.storePath).filter { $0 != ".links" && !valid.contains($0) }.sorted()
    }

    /// `.links` entries: contents match the name (NAR hash of the file), and some store file
    /// still uses each (link count ≥ 2) — only true right after a GC.
    mutating func checkLinks(expectUsed: Bool) {
        let links = store.layout.linksDirectory
        for name in listDirectory(links) {
            let file = links + "/" + name
            guard let digest = try? NARDumper.hash(path: file) else { problem("\(file): cannot dump"); continue }
            if digest.hash.nix32 != name { problem("\(file): contents hash to \(digest.hash.nix32)") }
            var st = stat()
            if expectUsed && lstat(file, &st) == 0 && st.st_nlink < 2 { problem("\(file): unused after GC") }
        }
    }
}

func isSymlink(_ path: String) -> Bool {
    var st = stat()
    return lstat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFLNK
}

/// Names in a directory (without `.` and `..`); empty if it cannot be read.
func listDirectory(_ path: String) -> [String] {
    guard let dir = opendir(path) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}
