import CSandbox
import LinuxSystem

/// Network and IPC namespaces made ahead of the builds that get them. Creating them is the
/// dearest part of a spawn here (clone with CLONE_NEWNET ≈1.4 ms, CLONE_NEWIPC ≈0.2 ms more,
/// most of it waiting on the teardown of the previous build's namespaces), so one thread keeps
/// `depth` fresh ones of each kind ready, `lo` up, off the request's path; `Sandbox.spawn`
/// enters them just for the clone. Each serves one sandbox, never two, and is what the clone
/// would have made: a new network namespace with only `lo`, up; a new, empty IPC namespace.
/// Their owner is the daemon's user namespace, not the build's: in user-namespace mode that
/// changes nothing the builder can do (no capability over either, nested namespaces
/// included), and `lo` is already up. Root only (unshare); without it, or when none is ready,
/// the clone makes them as before.
final class PreparedNamespaces: @unchecked Sendable {
    static let shared = PreparedNamespaces()
    static let depth = 2

    enum Kind: CaseIterable {
        case network, ipc
        var flag: UInt { self == .network ? CSANDBOX_CLONE_NEWNET : CSANDBOX_CLONE_NEWIPC }
        var procName: String { self == .network ? "net" : "ipc" }
    }

    private let lock = ConditionLock()
    // Guarded by `lock`.
    private var ready: [Kind: [FileDescriptor]] = [:]
    private var started = false
    private var takes = 0
    /// The daemon's own namespaces, where the spawning thread returns.
    private var home: [Kind: FileDescriptor] = [:]

    /// The fd of the daemon's own namespace of `kind` (-1 before any was made).
    func homeFD(_ kind: Kind) -> Int32 {
        lock.withLock { home[kind]?.rawValue ?? -1 }
    }

    /// A fresh namespace of `kind` of one's own, or nil (then the clone makes one). The
    /// thread starts at a process's second sandbox: a worker that serves one build (a client
    /// per build) would only pay for namespaces it never uses, made while its build spawns.
    func take(_ kind: Kind) -> FileDescriptor? {
        lock.withLock {
            takes += 1
            if !started && takes > Kind.allCases.count { start() }
            guard let fd = ready[kind]?.first else { return nil }
            ready[kind]?.removeFirst()
            lock.broadcast()
            return fd
        }
    }

    /// Holding `lock`.
    private func start() {
        started = true
        guard ProcessIdentity.effectiveUserID == 0 else { return }
        for kind in Kind.allCases {
            guard let fd = try? FileDescriptor.open("/proc/thread-self/ns/" + kind.procName, [.readOnly]) else { return }
            home[kind] = fd
        }
        let home = self.home
        _ = try? SystemThread.start { [self] in self.fill(home) }
    }

    private func fill(_ home: [Kind: FileDescriptor]) {
        while true {
            let kind = lock.withLock { () -> Kind in
                while true {
                    if let short = Kind.allCases.first(where: { (ready[$0]?.count ?? 0) < Self.depth }) { return short }
                    lock.wait()
                }
            }
            guard let homeFD = home[kind] else { return }
            let fd = csandbox_make_namespace(kind.flag, homeFD.rawValue)
            // Not allowed here (e.g. a seccomp filter, a container): the clone makes them.
            guard fd >= 0 else { return }
            lock.withLock { ready[kind, default: []].append(FileDescriptor(owning: fd)) }
        }
    }
}
