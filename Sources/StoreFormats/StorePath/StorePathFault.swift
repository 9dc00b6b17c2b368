/// Why a base name names no store path, as data. `description` says what the format wants;
/// Nix 2.8's parser (path.cc) words the faults it knows its own way, and its clients read those
/// words (`FormatError.message(.nix)`).
public enum StorePathFault: Equatable, Sendable {
    /// Fewer bytes than a hash part and a '-'.
    case tooShort
    /// A byte of the hash part outside the nix32 alphabet.
    case hashCharacter(UInt8)
    /// No '-' after the hash part.
    case noDash
    /// The part after the '-' is not a store path name.
    case name(String, StorePathName.Fault)

    public var reason: String {
        switch self {
        case .tooShort: "base name shorter than \(StorePath.hashPartLength + 1) bytes"
        case .hashCharacter(let c): "hash part has \(StorePathName.Fault.show(c)), not a nix32 character"
        case .noDash: "no '-' after the \(StorePath.hashPartLength)-character hash part"
        case .name(let name, let fault): FormatError.invalidStorePathName(name, fault).description
        }
    }

    /// Nix 2.8's words for `baseName`, or nil for a fault its parser does not have (it reads
    /// no '-' and allows a leading dot).
    func nixMessage(_ baseName: String) -> String? {
        let style = MessageStyle.nix
        let path = style.quotedErrorArgument(baseName)
        func character(_ c: UInt8) -> String { style.quotedErrorArgument(String(decoding: [c], as: UTF8.self)) }
        switch self {
        case .tooShort: return "\(path) is too short to be a valid store path"
        case .hashCharacter(let c): return "store path \(path) contains illegal base-32 character \(character(c))"
        case .name(_, .empty): return "store path \(path) has an empty name"
        case .name(_, .tooLong): return "store path \(path) has a name longer than \(StorePathName.maxLength) characters"
        case .name(_, .character(let c)): return "store path \(path) contains illegal character \(character(c))"
        case .noDash, .name(_, .leadingDot): return nil
        }
    }
}
