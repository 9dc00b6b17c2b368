import Testing
import Glibc
import LinuxSystem
@testable import LocalStore

/// SignatureListing says "no signature file" from a cached listing of the directory only while
/// the directory is unchanged and settled; any entry added or removed is seen at once.
@Suite(.tags(.medium)) struct SignatureListingTests {
    func write(_ directory: FileDescriptor, _ name: String) throws {
        let fd = try directory.open(at: Array(name.utf8), [.writeOnly, .create, .truncate], mode: 0o644)
        try fd.writeAll(Array("x\n".utf8))
        try fd.close()
    }

    @Test func changesAreSeenWhileTheListingIsUsed() throws {
        let dir = try TemporaryDirectory()
        // A clock far ahead: every state of the directory counts as settled, so listings answer.
        let listing = SignatureListing(now: { Int64(time(nil)) + 1000 })
        #expect(!listing.mayContain(Array("a".utf8), in: dir.descriptor))
        try write(dir.descriptor, "a")
        #expect(listing.mayContain(Array("a".utf8), in: dir.descriptor))
        #expect(!listing.mayContain(Array("b".utf8), in: dir.descriptor))
        #expect(!listing.mayContain(Array("c".utf8), in: dir.descriptor))
        try dir.descriptor.remove(at: Array("a".utf8))
        #expect(!listing.mayContain(Array("a".utf8), in: dir.descriptor))
        try write(dir.descriptor, "b")
        #expect(listing.mayContain(Array("b".utf8), in: dir.descriptor))
        #expect(listing.listings == 4, "one listing per state of the directory, not one per lookup")
    }

    @Test func aDirectoryChangedJustNowIsNeverListed() throws {
        let dir = try TemporaryDirectory()
        let listing = SignatureListing()
        try write(dir.descriptor, "a")
        #expect(listing.mayContain(Array("a".utf8), in: dir.descriptor))
        #expect(listing.mayContain(Array("b".utf8), in: dir.descriptor), "unsettled: the caller looks the name up itself")
        #expect(listing.listings == 0)
    }
}
