/// The restore side of adding to the store: NARRestorer (exclusive, fd-relative creation, never
/// through a symlink — security.md SEC-06 (a), (d)) plus what content addressing needs on top.
/// With `flatContents`, the NAR must be one regular file and its contents also go to that
/// hasher (flat content addressing hashes the file's bytes, not the NAR). Names and ordering
/// were already checked by NARReader. Memory stays constant: contents go straight to the file.
import StoreFormats
import LinuxSystem

struct StoreObjectRestorer: NARVisitor {
    private var restorer: NARRestorer
    let flatContents: Hasher?
    private var depth = 0
    private let displayName: String

    init(root: FileDescriptor, name: [UInt8], flatContents: Hasher? = nil) {
        restorer = NARRestorer(in: root, name: name)
        self.flatContents = flatContents
        displayName = String(decoding: name, as: UTF8.self)
    }

    private func refuseUnlessFlatFile(_ what: String) throws {
        if flatContents != nil {
            throw LocalStoreError.corrupt(displayName, reason: "flat content addressing needs a single regular file, not \(what)")
        }
    }

    mutating func beginRegularFile(executable: Bool, size: UInt64) throws { try restorer.beginRegularFile(executable: executable, size: size) }
    mutating func contents(_ chunk: UnsafeRawBufferPointer) throws {
        try restorer.contents(chunk)
        flatContents?.update(chunk)
    }
    mutating func endRegularFile() throws { try restorer.endRegularFile() }
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
    mutating func endDirectory() throws { try restorer.endDirectory() }
}
