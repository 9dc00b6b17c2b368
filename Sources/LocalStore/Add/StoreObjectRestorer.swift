/// The restore side of adding to the store: NARRestorer (exclusive, fd-relative creation, never
/// through a symlink — security.md SEC-06 (a), (d)) plus what content addressing needs on top.
/// With `flatContents`, the NAR must be one regular file and its contents also go to that
/// hasher (flat content addressing hashes the file's bytes, not the NAR). Names and ordering
/// were already checked by NARReader. Memory stays constant: contents go straight to the file.
///
/// Nodes get their canonical metadata as they are written (NARRestorer.canonicalMetadata), and
/// with `links` every regular file of at least 8 KiB inside the root directory is deduplicated
/// before its directory is made read-only: its `.links` key (sha256 of the file's own NAR) is
/// hashed by the `BackgroundHasher` from the same stream bytes as the NAR hash, so the file is
/// never read back (Deduplication.swift has the rules). The object is still a temporary no one
/// else uses, so a duplicate is swapped in under a name inside the (still writable) parent and
/// renamed over ours; a crash leaves only garbage.
import StoreFormats
import LinuxSystem

struct StoreObjectRestorer: NARVisitor {
    private var restorer: NARRestorer
    let flatContents: Hasher?
    private let displayName: String
    /// `<store>/.links` when deduplicating while restoring, and the hasher of the NAR stream.
    private let links: FileDescriptor?
    private let hashes: BackgroundHasher?
    /// Complete files waiting for their key, to be linked before their directory ends.
    private var pendingLinks: [(parent: FileDescriptor, name: [UInt8], range: BackgroundHasher.FileRange)] = []
    private var fileRange: BackgroundHasher.FileRange?
    /// True once every file that deduplication would link has been linked (the root was not a
    /// regular file: a top-level file is left to `optimisePath`).
    var deduplicated: Bool { links != nil && !rootIsFile }
    private var rootIsFile = false

    /// `links` and `hashes` (the hasher the NAR bytes pass through) to deduplicate.
    init(root: FileDescriptor, name: [UInt8], flatContents: Hasher? = nil, links: FileDescriptor? = nil, hashes: BackgroundHasher? = nil) {
        restorer = NARRestorer(in: root, name: name)
        restorer.canonicalMetadata = true
        self.flatContents = flatContents
        self.links = hashes == nil ? nil : links
        self.hashes = hashes
        displayName = String(decoding: name, as: UTF8.self)
    }

    private func refuseUnlessFlatFile(_ what: String) throws {
        if flatContents != nil {
            throw LocalStoreError.corrupt(displayName, reason: "flat content addressing needs a single regular file, not \(what)")
        }
    }

    mutating func beginRegularFile(executable: Bool, size: UInt64) throws {
        try restorer.beginRegularFile(executable: executable, size: size)
        if restorer.atRoot { rootIsFile = true }
        fileRange = nil
        if let hashes, links != nil, !restorer.atRoot, size >= UInt64(LocalStore.deduplicationMinimumSize) {
            fileRange = hashes.beginFile(executable: executable, size: size)
        }
    }

    mutating func contents(_ chunk: UnsafeRawBufferPointer) throws {
        try restorer.contents(chunk)
        flatContents?.update(chunk)
    }

    mutating func endRegularFile() throws {
        try restorer.endRegularFile()
        guard let range = fileRange else { return }
        fileRange = nil
        pendingLinks.append((restorer.currentParent, restorer.currentName, range))
        if pendingLinks.count >= 1024 { try linkPending() }
    }

    /// Links the files waiting for their key (their directories are all still open and writable).
    private mutating func linkPending() throws {
        guard let hashes, let links else { return }
        for (parent, name, range) in pendingLinks {
            guard let key = hashes.key(of: range) else { continue }
            try narSystemCall { () throws(SystemError) in
                try LocalStore.linkNewFile(parent, name, size: range.size, key: Array(key.nix32.utf8), links: links)
            }
        }
        pendingLinks.removeAll(keepingCapacity: true)
    }

    mutating func symlink(target: [UInt8]) throws {
        try refuseUnlessFlatFile("a symlink")
        try restorer.symlink(target: target)
    }
    mutating func beginDirectory() throws {
        try refuseUnlessFlatFile("a directory")
        try restorer.beginDirectory()
    }
    mutating func beginEntry(name: [UInt8]) throws { try restorer.beginEntry(name: name) }
    mutating func endEntry() throws { try restorer.endEntry() }
    mutating func endDirectory() throws {
        if !pendingLinks.isEmpty { try linkPending() }
        try restorer.endDirectory()
    }
}
