/// Everything the sandbox needs to run one derivation, as plain values (guix-daemon.md §1):
/// the input closure to bind read-only, the builder and its argv, the derivation environment
/// (with fixed-output `impureEnvVars` folded in, §1.8 step 4), network, `--chroot-directory`
/// extras, personality. `chrootEnvironment(...)` hands these to Sandbox's `ChrootEnvironment`,
/// which owns the exact /etc bytes, the §1.8 defaults and the chroot layout.
import StoreFormats
import Sandbox

public struct BuildPlan: Sendable {
    public let derivationPath: StorePath
    public let derivation: Derivation
    public let storeDirectory: StoreDirectory
    /// Store name of the .drv, `.drv` included (`hello-2.12.drv`): names the build tree.
    public var derivationName: String { derivationPath.name }
    /// Input sources and the wanted outputs of input derivations, closed under references.
    public let inputClosure: Set<StorePath>
    /// Output name → path.
    public let outputs: [String: StorePath]
    /// Absolute path of the builder inside the store.
    public let builder: String
    public let arguments: [[UInt8]]
    /// Derivation env pairs, then (fixed-output only) each `impureEnvVars` name with the
    /// daemon's value; sorted by name.
    public let derivationEnvironment: [(name: [UInt8], value: [UInt8])]
    public let fixedOutput: Bool
    public let buildCores: Int
    public let extraDirectories: [(inside: String, outside: String)]
    public let personality: UInt

    /// Fixed-output builds get the host network (no slirp4netns here), others only `lo`.
    public var network: NetworkMode { fixedOutput ? .host : .isolated }

    public var inputPaths: [String] {
        inputClosure.sorted().map { $0.absolute(in: storeDirectory) }
    }

    /// The Sandbox value for this plan, once the chroot and build tree exist.
    /// `useChroot` false is `--disable-chroot` (§3.1: no namespaces, host paths).
    public func chrootEnvironment(chrootDirectory: String, buildDirectory: BuildDirectory,
                                  identity: SandboxIdentity, useChroot: Bool = true) -> ChrootEnvironment {
        var environment = ChrootEnvironment(derivationName: derivationName, storeDirectory: storeDirectory.path, realStoreDirectory: nil,
                          inputPaths: inputPaths, chrootDirectory: chrootDirectory, buildDirectory: buildDirectory,
                          identity: identity, builder: builder, arguments: arguments,
                          derivationEnvironment: derivationEnvironment, buildCores: buildCores,
                          fixedOutput: fixedOutput, extraDirectories: extraDirectories, personality: personality)
        environment.useChroot = useChroot
        return environment
    }

    init(derivationPath: StorePath, derivation: Derivation, storeDirectory: StoreDirectory, inputClosure: Set<StorePath>,
         outputs: [String: StorePath], builder: String, arguments: [[UInt8]],
         derivationEnvironment: [(name: [UInt8], value: [UInt8])], fixedOutput: Bool, buildCores: Int,
         extraDirectories: [(inside: String, outside: String)], personality: UInt) {
        self.derivationPath = derivationPath
        self.derivation = derivation
        self.storeDirectory = storeDirectory
        self.inputClosure = inputClosure
        self.outputs = outputs
        self.builder = builder
        self.arguments = arguments
        self.derivationEnvironment = derivationEnvironment
        self.fixedOutput = fixedOutput
        self.buildCores = buildCores
        self.extraDirectories = extraDirectories
        self.personality = personality
    }
}
