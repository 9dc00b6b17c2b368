/// The entry names of `<state>/signatures` (SignatureFiles) as this process last read them, so
/// that QueryPathInfo — which asks for every path's signature file, though almost no path has
/// one — can answer "no file" after one `fstat` of the held directory instead of a failing
/// `openat` per request.
///
/// Invariant: the listing answers only while the directory's status is the one it was read
/// under *and* the directory's modification and change times lie more than `settleSeconds` in
/// the past. Creating, renaming or removing an entry sets both times to the current (possibly
/// coarse) time, so a change made after the listing — or while it was read — always shows as a
/// different status, and a directory changed within the last `settleSeconds` is looked up name
/// by name: a coarse clock tick can never hide a change behind an equal timestamp.
import LinuxSystem

final class SignatureListing {
    private var listedStatus: FileStatus?
    private var names: Set<[UInt8]> = []
    /// How many times the directory was read (tests).
    private(set) var listings = 0
    /// The real-time clock in seconds (tests move it).
    let now: () -> Int64

    static let settleSeconds: Int64 = 5
    /// Beyond this many entries the names are not kept (memory); lookups go name by name.
    static let limit = 100_000

    init(now: @escaping () -> Int64 = { WallClock.secondsSinceEpoch }) { self.now = now }

    /// False only when `directory` surely has no entry `name`.
    func mayContain(_ name: @autoclosure () -> [UInt8], in directory: FileDescriptor) -> Bool {
        guard let names = currentNames(of: directory) else { return true }
        return !names.isEmpty && names.contains(name())
    }

    /// The entry names of `directory` if the listing may answer now (one `fstat`), else nil.
    func currentNames(of directory: FileDescriptor) -> Set<[UInt8]>? {
        guard let status = try? directory.status() else { return nil }
        let settled = now() - Self.settleSeconds
        guard status.modificationSeconds < settled && status.changeSeconds < settled else { return nil }
        if status != listedStatus {
            listedStatus = nil
            guard let entries = try? directory.entryNames(), entries.count <= Self.limit else { return nil }
            names = Set(entries)
            listedStatus = status
            listings += 1
        }
        return names
    }
}
