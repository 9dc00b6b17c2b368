/// Nix signatures of valid paths (`sigs`, formats.md §2), which Guix's schema-7 database has no
/// column for: they live in `<state>/signatures/<base name>`, one file per signed path.
///
///     <registration time> sha256:<base16 NAR hash>     the stamp: the path they were added for
///     <signature>                                       one per line, sorted and unique
///
/// In Nix the signatures are a column of the path's row, so they go when the path is
/// invalidated; here the file goes with it (`invalidatePath`, the collector, `--delete`). The
/// stamp stays the guard for what a removal can miss (a crash between the commit and the unlink,
/// an AddSignatures racing a deletion, another daemon on the same store): a file whose stamp is
/// not the path's current registration is ignored, so a deleted and re-added path starts
/// unsigned, as in Nix.
///
/// `<base name>.no-ca` (the stamp alone) marks a content-addressed path registered without a
/// content-address claim — an import: Nix keeps the claim its adder made, and an import makes
/// none, so Nix shows `ca` "" for it, where ours is recomputed (Daemon's NixPathFields).
import StoreFormats
import LinuxSystem

extension LocalStore {
    func signatureStamp(_ info: ValidPathInfo) -> String { "\(info.registrationTime) \(info.narHash.prefixedBase16)" }

    /// `<state>/signatures`, held open once it exists (QueryPathInfo looks signatures up per
    /// request: one short lookup instead of resolving the whole path each time).
    private func signaturesDirectory() -> FileDescriptor? {
        if signaturesDirectoryFD == nil {
            signaturesDirectoryFD = try? FileDescriptor.currentDirectory.openDirectory(at: layout.signaturesDirectory)
        }
        return signaturesDirectoryFD
    }

    /// The signatures added to `info`'s path since it was registered, sorted.
    public func signatures(of info: ValidPathInfo) -> [String] { nixFields(of: info).signatures }

    /// What this directory keeps of Nix's row for `info`'s path: its signatures, sorted, and
    /// whether it was registered without a content-address claim (`.no-ca`). One `fstat`
    /// when the listing answers (QueryPathInfo asks for every path).
    public func nixFields(of info: ValidPathInfo) -> (signatures: [String], noContentAddressClaim: Bool) {
        guard let directory = signaturesDirectory() else { return ([], false) }
        let names = signatureListing.currentNames(of: directory)
        if let names, names.isEmpty { return ([], false) }
        let base = Array(info.path.baseName.utf8)
        let marker = base + Self.noClaimSuffix
        // Without a listing that answers, each name is looked up (a failing openat at worst).
        func mayExist(_ name: [UInt8]) -> Bool { names?.contains(name) ?? true }
        let signatures = mayExist(base) ? stampedLines(directory, base, of: info) ?? [] : []
        let noClaim = mayExist(marker) && stampedLines(directory, marker, of: info) != nil
        return (signatures, noClaim)
    }

    /// Marks `info`'s path, just registered by an import, as claiming no content address.
    public func recordNoContentAddressClaim(_ info: ValidPathInfo) throws(LocalStoreError) {
        try writeStampedFile(Array(info.path.baseName.utf8) + Self.noClaimSuffix, [signatureStamp(info)])
    }

    static let noClaimSuffix = Array(".no-ca".utf8)

    /// The lines after the stamp of the file `name`, if it exists and its stamp is `info`'s.
    private func stampedLines(_ directory: FileDescriptor, _ name: [UInt8], of info: ValidPathInfo) -> [String]? {
        guard let file = try? directory.open(at: name, [.readOnly, .noFollow]),
              let bytes = try? file.readAll() else { return nil }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
        guard lines.first == signatureStamp(info) else { return nil }
        return Array(lines.dropFirst())
    }

    /// Merges `new` into the signatures of `info`'s path (AddSignatures: Nix keeps a set). Empty
    /// texts and texts with a newline are dropped. Written under a temporary name and renamed
    /// over the file; the temporary file is removed if anything fails.
    public func addSignatures(_ new: [String], to info: ValidPathInfo) throws(LocalStoreError) {
        try requireWritable()
        let all = Set(signatures(of: info)).union(new.filter { !$0.isEmpty && !$0.contains("\n") }).sorted()
        try writeStampedFile(Array(info.path.baseName.utf8), [signatureStamp(info)] + all)
    }

    /// Writes `lines` to `name` in the signatures directory: under a temporary name, renamed
    /// over the file; the temporary file is removed if anything fails.
    private func writeStampedFile(_ name: [UInt8], _ lines: [String]) throws(LocalStoreError) {
        try requireWritable()
        let text = lines.joined(separator: "\n") + "\n"
        let temporary = name + Array(".tmp-\(ProcessIdentity.processID)".utf8)
        do throws(SystemError) {
            try HostPath.makeDirectories(layout.signaturesDirectory)
            let directory: FileDescriptor
            if let open = signaturesDirectory() { directory = open } else {
                directory = try FileDescriptor.currentDirectory.openDirectory(at: layout.signaturesDirectory)
            }
            do throws(SystemError) {
                let fd = try directory.open(at: temporary, [.writeOnly, .create, .truncate], mode: 0o644)
                defer { _ = try? fd.close() }
                try fd.writeAll(Array(text.utf8))
                try directory.rename(at: temporary, to: directory, name)
            } catch {
                _ = try? directory.remove(at: temporary)
                throw error
            }
        } catch { throw .system(error) }
    }

    /// Removes the signature files of `paths`, just invalidated (and their temporary files, left
    /// by an AddSignatures that died before its rename). One listing of the directory, then an
    /// unlink per file found: most paths have none. Failures are left to the stamp.
    func removeSignatureFiles<Paths: Sequence<StorePath>>(of paths: Paths) {
        guard let directory = signaturesDirectory(), let names = try? directory.entryNames(), !names.isEmpty else { return }
        let doomed = Set(paths.flatMap { [Array($0.baseName.utf8), Array($0.baseName.utf8) + Self.noClaimSuffix] })
        for name in names where doomed.contains(name) || doomed.contains(Self.signedName(ofTemporary: name)) {
            _ = try? directory.remove(at: name)
        }
    }

    /// `<base name>` for `<base name>.tmp-<digits>`, else empty.
    static func signedName(ofTemporary name: [UInt8]) -> [UInt8] {
        let digits = name.reversed().prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }.count
        let marker = Array(".tmp-".utf8)
        guard digits > 0, name.count > digits + marker.count,
              name[(name.count - digits - marker.count)..<(name.count - digits)].elementsEqual(marker) else { return [] }
        return Array(name[..<(name.count - digits - marker.count)])
    }
}
