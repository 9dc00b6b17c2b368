import StoreFormats
import WorkerProtocol

/// The service of a connection that could not be set up (the store failed to open): every
/// operation reports that error. Used only so the client reads a proper error frame.
final class RefusingService: StoreService {
    let error: any Error
    init(_ error: any Error) { self.error = error }
    func isValidPath(_ path: StorePath) throws -> Bool { throw error }
    func queryPathInfo(_ path: StorePath) throws -> PathInfoRecord? { throw error }
    func queryReferrers(_ path: StorePath) throws -> [StorePath] { throw error }
    func queryValidDerivers(_ path: StorePath) throws -> [StorePath] { throw error }
    func queryDerivationOutputMap(_ drvPath: StorePath) throws -> [(String, StorePath?)] { throw error }
    func queryPathFromHashPart(_ hashPart: String) throws -> StorePath? { throw error }
    func queryAllValidPaths() throws -> [StorePath] { throw error }
    func addToStore(name: String, method: AddMethod, references: [StorePath], repair: Bool, source: ByteSource) throws -> PathInfoRecord { throw error }
    func addTextToStore(name: String, text: [UInt8], references: [StorePath], repair: Bool) throws -> StorePath { throw error }
    func addToStoreNar(_ info: PathInfoRecord, source: ByteSource, repair: Bool, checkSignatures: Bool) throws { throw error }
    func narFromPath(_ path: StorePath, to sink: ByteSink) throws { throw error }
    func exportPath(_ path: StorePath, sign: Bool, to sink: ByteSink) throws { throw error }
    func importPaths(_ stream: ExportStreamReader, policy: ImportPolicy) throws -> [StorePath] { throw error }
    func addTempRoot(_ path: StorePath) throws { throw error }
    func addIndirectRoot(_ path: String) throws { throw error }
    func findRoots(censor: Bool) throws -> [(String, StorePath)] { throw error }
    func collectGarbage(_ request: GCRequest) throws -> GCResult { throw error }
    func verifyStore(checkContents: Bool, repair: Bool, log: ActivityLog) throws -> Bool { throw error }
    func optimiseStore(log: ActivityLog) throws { throw error }
    func queryMissing(_ paths: [DerivedPath]) throws -> MissingPaths { throw error }
    func addSignatures(_ path: StorePath, _ signatures: [String]) throws { throw error }
}
