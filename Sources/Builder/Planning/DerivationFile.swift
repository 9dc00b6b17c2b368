/// Reading a `.drv` from the store into a `Derivation` (StoreFormats' strict ATerm parser); a
/// file above the store's derivation size limit is refused unread.
import StoreFormats
import LocalStore

public enum DerivationFile {
    public static func read(_ drvPath: StorePath, store: LocalStore) throws(BuildError) -> Derivation {
        let bytes: [UInt8]
        do { bytes = try store.readDerivationFile(drvPath) } catch { throw .store(error) }
        do { return try Derivation(aterm: bytes, store: store.storeDirectory, rules: store.configuration.nameRules) }
        catch { throw .format(error) }
    }
}
