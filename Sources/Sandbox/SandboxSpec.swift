/// What a sandboxed process sees and who it runs as: a plain value with no knowledge of
/// derivations. `SetupPlan` turns it into the flat list of steps the C child replays.

/// A Guix-agnostic description of one sandboxed process.
public struct SandboxSpec: Sendable {
    /// The directory tree that becomes `/`. nil: no chroot and no namespaces at all — the host's
    /// filesystem, network and pids (guix-daemon's `--disable-chroot`, guix-daemon.md §3.1); the
    /// program then gets its own session and process group, which `kill` ends.
    public var root: RootPlan?
    /// Who the process runs as, and whether it gets a user namespace.
    public var identity: SandboxIdentity
    public var network: NetworkMode
    /// `sethostname`; nil keeps the (new, copied) UTS namespace's name.
    public var hostname: [UInt8]?
    /// `setdomainname`; nil keeps it.
    public var domainname: [UInt8]?
    /// Absolute path of the program, as seen inside the sandbox.
    public var program: String
    /// The full argv, argv[0] included.
    public var arguments: [[UInt8]]
    /// `NAME=value` entries, passed as they are (nothing is inherited).
    public var environment: [[UInt8]]
    /// Directory (inside the sandbox) the program starts in.
    public var workingDirectory: String
    public var limits: [ResourceLimit]
    /// personality(2) value; nil leaves the daemon's.
    public var personality: UInt?
    /// PR_SET_NO_NEW_PRIVS before exec (security.md P-1.3).
    public var noNewPrivileges: Bool
    /// Write `1000` to /proc/self/oom_score_adj so the OOM killer picks builds first (Guix).
    public var oomSacrifice: Bool

    public init(root: RootPlan?, identity: SandboxIdentity, network: NetworkMode = .isolated,
                hostname: [UInt8]? = Array("localhost".utf8), domainname: [UInt8]? = Array("(none)".utf8),
                program: String, arguments: [[UInt8]], environment: [[UInt8]], workingDirectory: String = "/",
                limits: [ResourceLimit] = [], personality: UInt? = nil, noNewPrivileges: Bool = true,
                oomSacrifice: Bool = true) {
        self.root = root
        self.identity = identity
        self.network = network
        self.hostname = hostname
        self.domainname = domainname
        self.program = program
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.limits = limits
        self.personality = personality
        self.noNewPrivileges = noNewPrivileges
        self.oomSacrifice = oomSacrifice
    }
}

/// The root filesystem: a host directory that becomes `/` after pivot_root, and what to put in
/// it, in order. Paths of entries are absolute paths inside the sandbox.
public struct RootPlan: Sendable {
    /// Host directory that becomes `/`. It must exist. With `.bindSelf` whatever the entries
    /// create lands on disk there (so outputs written under it survive the sandbox); with
    /// `.tmpfs` it is a fresh memory filesystem that vanishes with the mount namespace.
    public var directory: String
    public var kind: Kind
    public var entries: [RootEntry]
    /// chmod of `/` after pivot_root (Guix: 0555, so writing `/` fails with EACCES).
    public var finalMode: UInt32?
    /// Mount points already on disk (inside path → kind), made by the caller or left by an
    /// earlier sandbox in a recycled skeleton: each an empty directory or an empty file nobody
    /// else can reach. Those a bind needs are used as they are (one of the wrong kind is
    /// replaced); the others are removed before the builder starts.
    public var existingMountPoints: [String: MountPointKind] = [:]
    /// Host directory (the store) whose read-only binds go through one read-only view of it
    /// (ReadOnlyView.swift). It must have no mounts below it that a user namespace locks (a
    /// bind of just its own mount would then be refused).
    public var readOnlyView: String?

    public enum Kind: Sendable, Equatable {
        /// Bind the directory onto itself (it must be a mount point for pivot_root).
        case bindSelf
        /// Mount a fresh tmpfs on it.
        case tmpfs
    }

    public init(directory: String, kind: Kind = .bindSelf, entries: [RootEntry] = [], finalMode: UInt32? = 0o555) {
        self.directory = directory
        self.kind = kind
        self.entries = entries
        self.finalMode = finalMode
    }
}

/// What an existing mount point is.
public enum MountPointKind: Sendable, Equatable {
    case directory, file
}

/// One thing to create inside the root. Missing parent directories are made (0755) first.
public enum RootEntry: Sendable, Equatable {
    /// mkdir with an exact mode (the umask does not apply), optionally chowned.
    case directory(String, mode: UInt32, owner: Ownership? = nil)
    /// A new file with these bytes.
    case file(String, contents: [UInt8], mode: UInt32 = 0o644)
    case symlink(String, target: [UInt8])
    /// Bind mount of a host path. A symlink source is copied as a symlink (as Guix does); a
    /// missing source fails at setup time, naming this entry.
    case bind(inside: String, outside: String, options: BindOptions = [])
    /// procfs of the sandbox's PID namespace.
    case proc(String)
    /// A fresh tmpfs (e.g. /dev/shm).
    case tmpfs(String, options: String? = nil)
    /// A private devpts instance, with `/dev/ptmx`-style symlink next to it.
    case devpts(String, ptmxLink: String?)
    /// An existing path under an earlier entry (e.g. `/proc/sys` under `.proc`) bound onto
    /// itself read-only: its inode stays, only changes through it are refused.
    case readOnlyInPlace(String)
}

extension RootEntry {
    var insidePath: String {
        switch self {
        case .directory(let path, _, _), .file(let path, _, _), .symlink(let path, _), .proc(let path), .readOnlyInPlace(let path),
             .tmpfs(let path, _), .devpts(let path, _):
            return path
        case .bind(let inside, _, _):
            return inside
        }
    }
}

public struct Ownership: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32
    public init(uid: UInt32, gid: UInt32) {
        self.uid = uid
        self.gid = gid
    }
}

public struct BindOptions: OptionSet, Sendable, Equatable {
    public let rawValue: UInt
    public init(rawValue: UInt) { self.rawValue = rawValue }
    // Linux MS_* values (include/uapi/linux/mount.h).
    public static let readOnly = BindOptions(rawValue: 1)
    public static let noSetuid = BindOptions(rawValue: 2)
    public static let noDevices = BindOptions(rawValue: 4)
    public static let noExec = BindOptions(rawValue: 8)
}

/// Who the sandboxed process is.
public enum SandboxIdentity: Sendable, Equatable {
    /// Root daemon with a build user: no user namespace; after all mounts the child switches to
    /// these ids (setgroups, setgid, setuid).
    case buildUser(uid: UInt32, gid: UInt32, supplementaryGroups: [UInt32])
    /// A user namespace mapping one inside id to the daemon's own (`30001 <uid> 1`,
    /// `30000 <gid> 1`, setgroups denied).
    case userNamespace(insideUID: UInt32, insideGID: UInt32, hostUID: UInt32, hostGID: UInt32)
    /// Keep the caller's ids (tests, or root mode without a build group and without userns).
    case unchanged

    /// The uid and gid the process has inside the sandbox, if they are known in advance.
    public var insideIDs: (uid: UInt32, gid: UInt32)? {
        switch self {
        case .buildUser(let uid, let gid, _): return (uid, gid)
        case .userNamespace(let uid, let gid, _, _): return (uid, gid)
        case .unchanged: return nil
        }
    }
}

public enum NetworkMode: Sendable, Equatable {
    /// New network namespace with only `lo`, brought up.
    case isolated
    /// The host's network namespace (fixed-output builds).
    case host
}

/// One setrlimit(2).
public struct ResourceLimit: Sendable, Equatable {
    public var resource: Int32
    public var soft: UInt64
    public var hard: UInt64
    public init(resource: Int32, soft: UInt64, hard: UInt64) {
        self.resource = resource
        self.soft = soft
        self.hard = hard
    }
}
