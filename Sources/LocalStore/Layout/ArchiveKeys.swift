/// The daemon's archive keys and import ACL in the configuration directory
/// (`GUIX_CONFIGURATION_DIRECTORY`, default `/etc/guix`; guix-daemon.md §6.2, formats.md §5.4):
///
///     signing-key.pub   (public-key …), mode 0444
///     signing-key.sec   (private-key …), mode 0400; refused if group or others have any bit
///     acl               (acl (entry (public-key …) (tag (guix import))) …)
///
/// Guix's rules: signing checks the secret file's mode first (guix-daemon's checkSecrecy), then
/// loads the pair; when `acl` is missing but `signing-key.pub` exists, the ACL is that key alone
/// (`current-acl`, which authorises the daemon's own exports); with neither, nothing is authorised.
import StoreFormats
import LinuxSystem

public struct ArchiveKeys: Sendable {
    public let configurationDirectory: String

    public init(configurationDirectory: String) { self.configurationDirectory = configurationDirectory }
    public init(layout: StoreLayout) { self.init(configurationDirectory: layout.configurationDirectory) }

    public var publicKeyFile: String { configurationDirectory + "/signing-key.pub" }
    public var secretKeyFile: String { configurationDirectory + "/signing-key.sec" }
    public var aclFile: String { configurationDirectory + "/acl" }

    /// Whether either key file is there (generation refuses to replace a pair).
    public var keyPairExists: Bool { HostPath.exists(publicKeyFile) || HostPath.exists(secretKeyFile) }

    /// The pair ExportPath signs with, with guix-daemon's and `guix authenticate`'s messages.
    public func signingKeyPair() throws(LocalStoreError) -> GuixKeyPair {
        let status: FileStatus
        do { status = try FileDescriptor.open(secretKeyFile, .readOnly).status() } catch {
            throw .archiveKey("getting status of `\(secretKeyFile)': \(error.errno)")
        }
        guard status.permissions & 0o077 == 0 else {
            throw .archiveKey("file `\(secretKeyFile)' should be secret (inaccessible to everybody else)!")
        }
        let secretBytes: [UInt8], publicBytes: [UInt8]
        do {
            secretBytes = try FileDescriptor.open(secretKeyFile, .readOnly).readAll()
            publicBytes = try FileDescriptor.open(publicKeyFile, .readOnly).readAll()
        } catch {
            throw .archiveKey("failed to load key pair at '\(secretKeyFile)': \(error.errno)")
        }
        do {
            return GuixKeyPair(publicKey: try GuixPublicKey(parsing: publicBytes), secretKey: try GuixSecretKey(parsing: secretBytes))
        } catch {
            throw .archiveKey("failed to load key pair at '\(secretKeyFile)': \(error)")
        }
    }

    /// The keys imports may be signed by (Guix's `current-acl`).
    public func authorizedKeys() throws(LocalStoreError) -> [GuixPublicKey] {
        if let bytes = try read(aclFile) {
            do { return try GuixPublicKey.authorizedKeys(acl: bytes) } catch {
                throw .archiveKey("invalid access-control list `\(aclFile)': \(error)")
            }
        }
        guard let own = try read(publicKeyFile) else { return [] }
        do { return [try GuixPublicKey(parsing: own)] } catch {
            throw .archiveKey("invalid public key `\(publicKeyFile)': \(error)")
        }
    }

    /// `guix archive --generate-key`: a new pair written atomically, the secret 0400 (owned by
    /// the store's owner when an unprivileged daemon owns the store), the public key 0444.
    /// Refuses to replace an existing pair.
    public func generate(parameters: String = GuixKeyPair.defaultParameters, storeOwner: UInt32? = nil) throws(LocalStoreError) -> GuixKeyPair {
        guard !keyPairExists else {
            throw .archiveKey("key pair exists under '\(configurationDirectory)'; remove it first")
        }
        let pair: GuixKeyPair
        do { pair = try GuixKeyPair.generate(parameters: parameters) } catch { throw .format(error) }
        do {
            try HostPath.makeDirectories(configurationDirectory)
            try write(pair.publicKey.sexp.advancedForm(), to: publicKeyFile, mode: 0o444, owner: nil)
            try write(pair.secretKey.sexp.advancedForm(), to: secretKeyFile, mode: 0o400, owner: storeOwner)
        } catch let error as SystemError {
            throw .system(error)
        } catch let error as FormatError {
            throw .format(error)
        } catch {
            throw .archiveKey("\(error)")
        }
        return pair
    }

    /// `guix archive --authorize`: adds `key` to the ACL (kept once), written atomically, 0644.
    public func authorize(_ key: GuixPublicKey) throws(LocalStoreError) {
        var keys = try authorizedKeys()
        if !keys.contains(key) { keys.append(key) }
        let acl = SExpression.list([.token("acl")] + keys.map {
            .list([.token("entry"), $0.sexp, .list([.token("tag"), .list([.token("guix"), .token("import")])])])
        })
        do {
            try HostPath.makeDirectories(configurationDirectory)
            try write(acl.advancedForm(), to: aclFile, mode: 0o644, owner: nil)
        } catch let error as SystemError {
            throw .system(error)
        } catch let error as FormatError {
            throw .format(error)
        } catch {
            throw .archiveKey("\(error)")
        }
    }

    private func read(_ path: String) throws(LocalStoreError) -> [UInt8]? {
        do { return try FileDescriptor.open(path, .readOnly).readAll() } catch {
            if error.errno == .noSuchFile { return nil }
            throw .system(error)
        }
    }

    /// Writes beside `path`, sets mode (and owner), then renames over it.
    private func write(_ bytes: [UInt8], to path: String, mode: UInt32, owner: UInt32?) throws(SystemError) {
        let temporary = path + ".tmp-\(ProcessIdentity.processID)"
        let fd = try FileDescriptor.open(temporary, [.writeOnly, .create, .truncate, .noFollow], mode: 0o600)
        do {
            try fd.changeMode(mode)
            if let owner { try fd.changeOwner(owner, UInt32.max) }
            try fd.writeAll(bytes)
            try fd.synchronize()
            try fd.close()
            try FileDescriptor.currentDirectory.rename(at: Array(temporary.utf8), to: .currentDirectory, Array(path.utf8))
        } catch {
            try? FileDescriptor.currentDirectory.remove(at: Array(temporary.utf8))
            throw error
        }
    }
}
