/// Reading a `.drv` from the store into a `Derivation` (StoreFormats' strict ATerm parser).
import StoreFormats
import LocalStore
import LinuxSystem

public enum DerivationFile {
    public static func read(_ drvPath: StorePath, store: LocalStore) throws(BuildError) -> Derivation {
        let text = store.layout.absolute(drvPath)
        let bytes: [UInt8]
        do { bytes = try FileDescriptor.open(text, [.readOnly, .noFollow]).readAll() } catch { throw .system(error) }
        do { return try Derivation(aterm: bytes, store: store.storeDirectory, rules: store.configuration.nameRules) }
        catch { throw .format(error) }
    }
}
