/// Every way bytes can fail to be one of the store's formats. Each case carries what a person
/// needs to find the fault: the offending text, the offset, what was expected.
public enum FormatError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidBase32(String, reason: String)
    case invalidHash(String, reason: String)
    case unknownHashAlgorithm(String)
    case invalidStorePath(String, reason: String)
    /// A base name (as given) that names no store path, and why.
    case badStorePath(String, StorePathFault)
    /// A path not directly inside the store directory (both daemons: "not in the store").
    case notInStore(String, storeDirectory: String)
    case invalidStorePathName(String, StorePathName.Fault)
    case invalidNAR(offset: UInt64, reason: String)
    case invalidExport(offset: UInt64, reason: String)
    case invalidDerivation(offset: Int, reason: String)
    case invalidNarInfo(line: Int, reason: String)
    case invalidSignature(String, reason: String)
    case invalidKey(String, reason: String)
    /// A derivation output that is not what its derivation says it must be (name, why).
    case invalidDerivationOutput(String, reason: String)
    /// A derivation field given as a value (not parsed from bytes) that is not valid (field, why).
    case invalidDerivationField(String, reason: String)
    /// An input derivation that could not be loaded while hashing (path, why).
    case unresolvedDerivation(String, reason: String)
    /// A libgcrypt s-expression (Guix keys and signatures) that cannot be read.
    case invalidSExpression(offset: Int, reason: String)
    /// An export item refused by Guix's signature check; the description is guix-daemon's message.
    case archiveRejected(ArchiveRejection)

    public var description: String {
        switch self {
        case .invalidBase32(let text, let reason): "invalid nix base-32 string '\(text)': \(reason)"
        case .invalidHash(let text, let reason): "invalid hash '\(text)': \(reason)"
        case .unknownHashAlgorithm(let name): "unknown hash algorithm '\(name)'"
        case .invalidStorePath(let path, let reason): "invalid store path '\(path)': \(reason)"
        case .notInStore(let path, let directory): "path '\(path)' is not in the store \(directory)"
        case .badStorePath(let baseName, let fault): "invalid store path '\(baseName)': \(fault.reason)"
        case .invalidStorePathName(let name, let fault): "invalid store path name '\(name)': \(fault.reason)"
        case .invalidNAR(let offset, let reason): "invalid NAR at byte \(offset): \(reason)"
        case .invalidExport(let offset, let reason): "invalid export stream at byte \(offset): \(reason)"
        case .invalidDerivation(let offset, let reason): "invalid derivation at byte \(offset): \(reason)"
        case .invalidNarInfo(let line, let reason): "invalid narinfo at line \(line): \(reason)"
        case .invalidSignature(let text, let reason): "invalid signature '\(text)': \(reason)"
        case .invalidKey(let text, let reason): "invalid key '\(text)': \(reason)"
        case .invalidDerivationOutput(let name, let reason): "invalid derivation output '\(name)': \(reason)"
        case .invalidDerivationField(let field, let reason): "invalid derivation \(field): \(reason)"
        case .unresolvedDerivation(let path, let reason): "cannot load input derivation '\(path)': \(reason)"
        case .invalidSExpression(let offset, let reason): "invalid s-expression at byte \(offset): \(reason)"
        case .archiveRejected(let rejection): rejection.description
        }
    }
}

extension FormatError: StyledError {
    public func message(_ style: MessageStyle) -> String {
        switch (self, style) {
        case (.notInStore(let path, _), .nix): "path \(style.quotedErrorArgument(path)) is not in the Nix store"
        case (.notInStore(let path, _), .guix): "path \(style.quoted(path)) is not in the store"
        case (.badStorePath(let baseName, let fault), .nix): fault.nixMessage(baseName) ?? description
        default: description
        }
    }
}
