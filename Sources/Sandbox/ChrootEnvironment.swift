import LinuxSystem

/// guix-daemon's build environment (guix-daemon.md §1) from plain inputs: what the chroot holds,
/// the exact /etc bytes, the exact environment, who the builder is. The Builder module turns a
/// derivation into these inputs; this type turns them into a `SandboxSpec`.
///
/// Root listing for store `/gnu/store`: exactly `dev etc gnu proc tmp`.
public struct ChrootEnvironment: Sendable {
    /// Store name of the .drv, `.drv` included (e.g. `hello-2.12.drv`).
    public var derivationName: String
    /// The store directory as builders see it (`NIX_STORE`), e.g. `/gnu/store`.
    public var storeDirectory: String
    /// Where that store really is on the host, if elsewhere (tests; relocated stores).
    public var realStoreDirectory: String?
    /// The input closure: absolute store paths under `storeDirectory`, bound read-only.
    public var inputPaths: [String]
    /// Host directory (existing, empty) that becomes `/`; outputs written under
    /// `<chrootDirectory><storeDirectory>` stay on disk after the build.
    public var chrootDirectory: String
    public var buildDirectory: BuildDirectory
    public var identity: SandboxIdentity
    /// Absolute store path of the builder; argv[0] is its basename.
    public var builder: String
    public var arguments: [[UInt8]]
    /// The derivation's environment pairs (name, value), applied over the defaults.
    public var derivationEnvironment: [(name: [UInt8], value: [UInt8])]
    /// `NIX_BUILD_CORES` (0 = all cores, as guix-daemon's default).
    public var buildCores: Int
    /// Fixed-output builds keep the host network and get the host's resolver files.
    public var fixedOutput: Bool
    /// `--chroot-directory` extras: (inside, outside).
    public var extraDirectories: [(inside: String, outside: String)]
    public var personality: UInt?
    /// false: guix-daemon's `--disable-chroot` (§3.1): no namespaces, the host's filesystem and
    /// network, the build tree under its host path (`<wrapper>/top` here, so the 0700 wrapper
    /// still guards it), ids as in pool mode or the daemon's own.
    public var useChroot = true

    public init(derivationName: String, storeDirectory: String = "/gnu/store", realStoreDirectory: String? = nil,
                inputPaths: [String], chrootDirectory: String, buildDirectory: BuildDirectory, identity: SandboxIdentity,
                builder: String, arguments: [[UInt8]] = [], derivationEnvironment: [(name: [UInt8], value: [UInt8])] = [],
                buildCores: Int = 0, fixedOutput: Bool = false, extraDirectories: [(inside: String, outside: String)] = [],
                personality: UInt? = ChrootEnvironment.personality(system: "x86_64-linux", hostSystem: "x86_64-linux", impersonateLinux26: false)) {
        self.derivationName = derivationName
        self.storeDirectory = storeDirectory
        self.realStoreDirectory = realStoreDirectory
        self.inputPaths = inputPaths
        self.chrootDirectory = chrootDirectory
        self.buildDirectory = buildDirectory
        self.identity = identity
        self.builder = builder
        self.arguments = arguments
        self.derivationEnvironment = derivationEnvironment
        self.buildCores = buildCores
        self.fixedOutput = fixedOutput
        self.extraDirectories = extraDirectories
        self.personality = personality
    }

    /// Parts of procfs that act on the whole host rather than the sandbox's namespaces.
    /// Those this kernel has (procfs does not change its top level while we run).
    static let hostGlobalProcPaths = ["/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs", "/proc/acpi"]
        .filter { HostPath.exists($0) }

    /// A user namespace, where the builder's uid is the daemon's own on the host.
    var inUserNamespace: Bool {
        if case .userNamespace = identity { return true }
        return false
    }

    /// The builder is root on the host (a root daemon without build users): without
    /// capabilities it still owns every root-owned inode it can reach.
    var builderIsHostRoot: Bool {
        if case .userNamespace(_, _, let hostUID, _) = identity { return hostUID == 0 }
        return false
    }

    /// uid/gid written to /etc/passwd and /etc/group: the build user and build group in pool
    /// mode, 30001/30000 (guestUID/guestGID) in a user namespace.
    var etcIDs: (uid: UInt32, gid: UInt32) {
        identity.insideIDs ?? (ProcessIdentity.userID, ProcessIdentity.groupID)
    }

    /// §1.5, byte for byte.
    public var passwd: [UInt8] {
        Array("nixbld:x:\(etcIDs.uid):\(etcIDs.gid):Nix build user:/:/noshell\nnobody:x:65534:65534:Nobody:/:/noshell\n".utf8)
    }
    public var group: [UInt8] { Array("nixbld:!:\(etcIDs.gid):\n".utf8) }
    public static let hosts: [UInt8] = Array("127.0.0.1 localhost\n::1 localhost\n".utf8)

    /// §1.8: defaults, then the derivation's pairs, then the build-tree variables (which the
    /// derivation cannot override); sorted by name as guix-daemon's std::map is.
    public var environment: [[UInt8]] {
        var env: [[UInt8]: [UInt8]] = [:]
        env[Array("PATH".utf8)] = Array("/path-not-set".utf8)
        env[Array("HOME".utf8)] = Array("/homeless-shelter".utf8)
        env[Array("NIX_STORE".utf8)] = Array(storeDirectory.utf8)
        env[Array("NIX_BUILD_CORES".utf8)] = Array(String(buildCores).utf8)
        for (name, value) in derivationEnvironment { env[name] = value }
        for name in ["NIX_BUILD_TOP", "TMPDIR", "TEMPDIR", "TMP", "TEMP", "PWD"] {
            env[Array(name.utf8)] = Array(buildTree.utf8)
        }
        return env.keys.sorted { $0.lexicographicallyPrecedes($1) }.map { $0 + [0x3D] + (env[$0] ?? []) }
    }

    /// The build tree's path as the builder sees it.
    var buildTree: String { useChroot ? buildDirectory.insidePath : buildDirectory.topPath }

    /// §1.10: PER_LINUX, or PER_LINUX32 for i686 on x86_64 and armhf on aarch64; UNAME26 when
    /// impersonating 2.6 on x86; always ADDR_NO_RANDOMIZE.
    public static func personality(system: String, hostSystem: String, impersonateLinux26: Bool) -> UInt {
        let perLinux32: UInt = 0x0008, uname26: UInt = 0x0020000, addrNoRandomize: UInt = 0x0040000
        var value: UInt = 0
        if (system == "i686-linux" && hostSystem == "x86_64-linux") || (system == "armhf-linux" && hostSystem == "aarch64-linux") {
            value = perLinux32
        }
        if impersonateLinux26 && (system == "i686-linux" || system == "x86_64-linux") { value |= uname26 }
        return value | addrNoRandomize
    }

    /// The store path of `path` as found on the host.
    func hostLocation(_ path: String) -> String {
        guard let real = realStoreDirectory, path.hasPrefix(storeDirectory + "/") else { return path }
        return real + path.dropFirst(storeDirectory.count)
    }

    public func spec(hostHasKVM: Bool = HostPath.exists("/dev/kvm"),
                     hostHasPTMX: Bool = HostPath.exists("/dev/pts/ptmx")) throws(SandboxError) -> SandboxSpec {
        try checkBuilder()
        if !useChroot { return try unsandboxedSpec() }
        var entries: [RootEntry] = []
        // /dev (§1.3): a minimal set of host nodes, links into /proc, fresh shm and pts.
        entries.append(.directory("/dev", mode: 0o755))
        var devices = ["full", "null", "random", "tty", "urandom", "zero"]
        if hostHasKVM { devices.append("kvm") }
        // Read-only when the builder is host root, who owns the host's nodes (a root-owned 0666
        // `/dev/full' would be its to chmod); device I/O still works. Any other builder cannot
        // change them, so it is spared the remounts.
        for device in devices.sorted() {
            entries.append(.bind(inside: "/dev/" + device, outside: "/dev/" + device, options: builderIsHostRoot ? [.readOnly] : []))
        }
        entries.append(.symlink("/dev/fd", target: Array("/proc/self/fd".utf8)))
        entries.append(.symlink("/dev/stdin", target: Array("/proc/self/fd/0".utf8)))
        entries.append(.symlink("/dev/stdout", target: Array("/proc/self/fd/1".utf8)))
        entries.append(.symlink("/dev/stderr", target: Array("/proc/self/fd/2".utf8)))
        entries.append(.tmpfs("/dev/shm"))
        if hostHasPTMX { entries.append(.devpts("/dev/pts", ptmxLink: "/dev/ptmx")) }

        // /etc (§1.5, §1.9).
        entries.append(.directory("/etc", mode: 0o755))
        entries.append(.file("/etc/passwd", contents: passwd))
        entries.append(.file("/etc/group", contents: group))
        if fixedOutput {
            for name in ["hosts", "resolv.conf", "services", "nsswitch.conf"] where HostPath.exists("/etc/" + name) {
                entries.append(.bind(inside: "/etc/" + name, outside: "/etc/" + name, options: [.readOnly]))
            }
        } else {
            entries.append(.file("/etc/hosts", contents: Self.hosts))
        }

        // The store: only the input closure, read-only; the store directory itself writable by the
        // build group so outputs can be created (01775 root:G in pool mode).
        var storeOwner: Ownership?
        if case .buildUser(_, let gid, _) = identity { storeOwner = Ownership(uid: 0, gid: gid) }
        entries.append(.directory(storeDirectory, mode: 0o1775, owner: storeOwner))
        for path in Set(inputPaths).sorted() {
            entries.append(.bind(inside: path, outside: hostLocation(path), options: [.readOnly]))
        }
        let realStore = realStoreDirectory ?? storeDirectory
        for (inside, outside) in extraDirectories {
            // Guix's failsafe: anything from the store is read-only. So is everything in a user
            // namespace, where the builder's uid is the daemon's own on the host: a writable bind
            // would let it modify (or chmod) whatever the daemon's user owns there — all of it
            // when the daemon is root.
            let fromStore = outside == realStore || outside.hasPrefix(realStore + "/")
            let readOnly = fromStore || inUserNamespace
            entries.append(.bind(inside: inside, outside: outside, options: readOnly ? [.readOnly] : []))
        }

        entries.append(.proc("/proc"))
        // A root daemon without build users maps the builder to host uid 0 (as guix-daemon
        // does). Without capabilities that still makes it the owner of every root-owned file it
        // can reach, and procfs grants owner rights on global kernel settings to uid 0 itself:
        // `/proc/sys/vm/*` would be writable. These are bound read-only, as container runtimes do.
        if builderIsHostRoot {
            for path in ChrootEnvironment.hostGlobalProcPaths { entries.append(.readOnlyInPlace(path)) }
        }
        entries.append(.directory("/tmp", mode: 0o1777))
        entries.append(.bind(inside: buildDirectory.insidePath, outside: buildDirectory.topPath, options: [.noSetuid, .noDevices]))

        let argv0 = builder.split(separator: "/").last.map(String.init) ?? builder
        var root = RootPlan(directory: chrootDirectory, kind: .bindSelf, entries: entries, finalMode: 0o555)
        root.readOnlyView = realStore
        return SandboxSpec(
            root: root,
            identity: identity,
            network: fixedOutput ? .host : .isolated,
            hostname: Array("localhost".utf8),
            domainname: Array("(none)".utf8),
            program: builder,
            arguments: [Array(argv0.utf8)] + arguments,
            environment: environment,
            workingDirectory: buildDirectory.insidePath,
            personality: personality)
    }

    /// §3.1: no chroot, no namespaces.
    func unsandboxedSpec() throws(SandboxError) -> SandboxSpec {
        if HostPath.exists("/homeless-shelter") {
            throw .invalidSpec(reason: "directory `/homeless-shelter' exists; please remove it")
        }
        var identity = self.identity
        if case .userNamespace = identity { identity = .unchanged }
        let argv0 = builder.split(separator: "/").last.map(String.init) ?? builder
        return SandboxSpec(root: nil, identity: identity, network: .host, hostname: nil, domainname: nil,
                           program: hostLocation(builder), arguments: [Array(argv0.utf8)] + arguments,
                           environment: environment, workingDirectory: buildTree, personality: personality)
    }

    /// SEC-02: the builder must be a path inside the store, inside one of the inputs, and must
    /// still be there once symlinks are resolved (no `/proc/self/exe`, no relative paths).
    /// One exception, as Nix's `sandbox-paths`: a regular file the administrator put in every
    /// chroot with `--chroot-directory` (e.g. `/bin/sh=/bin/busybox`), named exactly.
    func checkBuilder() throws(SandboxError) {
        let outside = SandboxError.invalidSpec(reason: "derivation builder `\(builder)' is outside the store")
        let parts = builder.split(separator: "/", omittingEmptySubsequences: false)
        guard !parts.contains(".."), !parts.contains(".") else { throw outside }
        if useChroot, isAdministratorsFile(builder) { return }
        guard builder.hasPrefix(storeDirectory + "/") else { throw outside }
        let inInputs = inputPaths.contains { builder == $0 || builder.hasPrefix($0 + "/") }
        guard inInputs else { throw outside }
        let realStore = realStoreDirectory ?? storeDirectory
        guard let resolved = try? HostPath.canonical(hostLocation(builder)),
              let canonicalStore = try? HostPath.canonical(realStore),
              resolved.hasPrefix(canonicalStore + "/") else { throw outside }
    }

    /// `path` is the inside name of a `--chroot-directory` entry whose host side is a regular
    /// file (symlinks resolved; nothing under /proc, so never the daemon's own executable).
    func isAdministratorsFile(_ path: String) -> Bool {
        guard let entry = extraDirectories.first(where: { $0.inside == path }),
              let resolved = try? HostPath.canonical(entry.outside), !resolved.hasPrefix("/proc/"),
              let status = try? HostPath.status(resolved) else { return false }
        return status.type == .regular
    }
}
