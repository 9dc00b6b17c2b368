import StoreFormats

/// A request as decoded from the wire: the op and its arguments (formats.md §6.6). Ops that
/// carry bulk data (AddToStore, AddToStoreNar, AddMultipleToStore, ImportPaths, AddBuildLog)
/// leave it on the wire after the arguments; `payload` says in which form.
public enum WorkerRequest: Hashable, Sendable {
    case isValidPath(StorePath)
    case hasSubstitutes(StorePath)
    case queryPathHash(StorePath)
    case queryReferences(StorePath)
    case queryReferrers(StorePath)
    /// Nix >= 25: method string (`fixed:r:sha256`, `text:sha256`...), references, repair; framed data.
    case addToStore(name: String, method: String, references: [StorePath], repair: Bool)
    /// Nix < 25 and Guix: `fixed` (0 = "sha256 + recursive" whatever follows), recursive, algorithm; raw NAR.
    case addToStoreLegacy(name: String, fixed: Bool, recursive: Bool, algorithm: String)
    case addTextToStore(name: String, text: [UInt8], references: [StorePath])
    case buildPaths([DerivedPath], mode: UInt64)
    case ensurePath(StorePath)
    case addTempRoot(StorePath)
    case addIndirectRoot(String)
    case syncWithGC
    case findRoots
    case exportPath(StorePath, sign: Bool)
    case queryDeriver(StorePath)
    case setOptions(ClientOptions)
    case collectGarbage(action: UInt64, paths: [StorePath], ignoreLiveness: Bool, maxFreed: UInt64)
    case querySubstitutablePathInfo(StorePath)
    case queryDerivationOutputs(StorePath)
    case queryAllValidPaths
    case queryFailedPaths
    case clearFailedPaths([StorePath])
    case queryPathInfo(StorePath)
    case importPaths
    case queryDerivationOutputNames(StorePath)
    case queryPathFromHashPart(String)
    /// Paths with the CA each claims ("" in the list form of Guix and Nix < 22).
    case querySubstitutablePathInfos([PathAndCA])
    case queryValidPaths([StorePath], substitute: Bool)
    case querySubstitutablePaths([StorePath])
    case queryValidDerivers(StorePath)
    case optimiseStore
    case verifyStore(checkContents: Bool, repair: Bool)
    case buildDerivation(StorePath, WireDerivation, mode: UInt64)
    case addSignatures(StorePath, [String])
    case narFromPath(StorePath)
    case addToStoreNar(PathInfoRecord, repair: Bool, dontCheckSigs: Bool)
    case queryMissing([DerivedPath])
    case queryDerivationOutputMap(StorePath)
    /// Nix >= 31: Realisation JSON; before: `id` and the output path joined by a space.
    case registerDrvOutput(String)
    case queryRealisation(String)
    case addMultipleToStore(repair: Bool, dontCheckSigs: Bool)
    case addBuildLog(StorePath)
    case buildPathsWithResults([DerivedPath], mode: UInt64)
    case builtinBuilders
    case substituteURLs

    public struct PathAndCA: Hashable, Sendable {
        public var path: StorePath
        public var contentAddress: String
        public init(_ path: StorePath, _ contentAddress: String = "") { self.path = path; self.contentAddress = contentAddress }
    }

    /// How the bulk data following the arguments travels.
    public enum Payload: Sendable {
        case none
        /// §6.4 framed stream.
        case framed
        /// A NAR inline, unframed (delimited by its grammar).
        case rawNAR
        /// Pulled by the daemon with `STDERR_READ` (ImportPaths, AddToStoreNar 21–22).
        case stderrRead
    }

    public func payload(_ v: Negotiated) -> Payload {
        switch self {
        case .addToStore, .addMultipleToStore, .addBuildLog: .framed
        case .addToStoreLegacy: .rawNAR
        case .importPaths: .stderrRead
        case .addToStoreNar: v.addToStoreNarIsFramed ? .framed : v.addToStoreNarUsesRead ? .stderrRead : .rawNAR
        default: .none
        }
    }
}
