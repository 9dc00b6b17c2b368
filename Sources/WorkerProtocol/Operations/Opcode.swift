/// Operation codes (formats.md §6.6). Numbers from Nix 2.8.0 `src/libstore/worker-protocol.hh`
/// (`wopIsValidPath = 1` ... `wopBuildPathsWithResults = 46`) and Guix
/// `nix/libstore/worker-protocol.hh` (`wopQueryFailedPaths = 24`, `wopClearFailedPaths = 25`,
/// `wopBuiltinBuilders = 80`, `wopSubstituteURLs = 81`). Gaps (2, 15, 17) are retired codes.
public enum Opcode: UInt64, Sendable, CaseIterable {
    case isValidPath = 1
    case hasSubstitutes = 3
    case queryPathHash = 4
    case queryReferences = 5
    case queryReferrers = 6
    case addToStore = 7
    case addTextToStore = 8
    case buildPaths = 9
    case ensurePath = 10
    case addTempRoot = 11
    case addIndirectRoot = 12
    case syncWithGC = 13
    case findRoots = 14
    case exportPath = 16
    case queryDeriver = 18
    case setOptions = 19
    case collectGarbage = 20
    case querySubstitutablePathInfo = 21
    case queryDerivationOutputs = 22
    case queryAllValidPaths = 23
    case queryFailedPaths = 24
    case clearFailedPaths = 25
    case queryPathInfo = 26
    case importPaths = 27
    case queryDerivationOutputNames = 28
    case queryPathFromHashPart = 29
    case querySubstitutablePathInfos = 30
    case queryValidPaths = 31
    case querySubstitutablePaths = 32
    case queryValidDerivers = 33
    case optimiseStore = 34
    case verifyStore = 35
    case buildDerivation = 36
    case addSignatures = 37
    case narFromPath = 38
    case addToStoreNar = 39
    case queryMissing = 40
    case queryDerivationOutputMap = 41
    case registerDrvOutput = 42
    case queryRealisation = 43
    case addMultipleToStore = 44
    case addBuildLog = 45
    case buildPathsWithResults = 46
    case builtinBuilders = 80
    case substituteURLs = 81

    /// Whether a session of this dialect has the op (§6.11: 24/25/80/81 are Guix's; 36–46
    /// are Nix's; Nix 2.8 rejects 24/25).
    public func exists(in dialect: Dialect) -> Bool {
        switch self {
        case .queryFailedPaths, .clearFailedPaths, .builtinBuilders, .substituteURLs: dialect == .guix
        case .buildDerivation, .addSignatures, .narFromPath, .addToStoreNar, .queryMissing,
             .queryDerivationOutputMap, .registerDrvOutput, .queryRealisation, .addMultipleToStore,
             .addBuildLog, .buildPathsWithResults: dialect == .nix
        default: true
        }
    }
}

extension Opcode {
    /// Answered from the database (or a temp-roots line) alone, in microseconds: the requests a
    /// client fires back to back (`nix-store -q` over many paths, `guix gc -R`). The daemon
    /// keeps CPU wake-ups fast across runs of these and never across anything else (builds,
    /// NAR transfers, GC, substituter queries), which may run for minutes.
    public var isLookup: Bool {
        switch self {
        case .isValidPath, .queryPathHash, .queryReferences, .queryReferrers, .addTempRoot, .queryDeriver,
             .setOptions, .queryDerivationOutputs, .queryPathInfo, .queryDerivationOutputNames,
             .queryPathFromHashPart, .queryValidDerivers, .queryDerivationOutputMap, .queryFailedPaths,
             .builtinBuilders, .substituteURLs: true
        default: false
        }
    }
}
