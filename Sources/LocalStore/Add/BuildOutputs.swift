/// The store operations a build needs on a fresh output before it is registered, exposed for
/// the Builder: canonicalisation (§4.3) of an entry under a directory fd the caller holds (the
/// chroot's store directory, walked with O_NOFOLLOW), and deduplication (§4.6) of a path now in
/// the store.
import StoreFormats
import LinuxSystem

extension LocalStore {
    /// Canonicalises `name` under `parent` and everything below it (modes 0444/0555, mtime 1,
    /// owner the daemon). `displayPath` is used in errors. With `ownership` (pool mode) every
    /// file must belong to the build user, or be a hard link to one canonicalised already.
    public func canonicaliseNewObject(in parent: FileDescriptor, name: [UInt8], displayPath: String,
                                      ownership: BuildOwnership? = nil) throws(LocalStoreError) {
        try Canonicaliser.canonicalise(in: parent, name: name, displayPath: displayPath, ownership: ownership)
    }

    /// Hard-links the files of the (canonical, in-store) `path` with identical ones in `.links`.
    public func deduplicate(_ path: StorePath) throws(LocalStoreError) {
        try optimisePath(in: storeFD, name: Array(path.baseName.utf8))
    }

    /// The store directory, open (for fd-relative renames into the store).
    public var storeDirectoryDescriptor: FileDescriptor { storeFD }
}
