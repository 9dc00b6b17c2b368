import CSandbox
import LinuxSystem

/// Network namespaces made ahead of the builds that get them. Creating one is the dearest
/// part of a spawn here (clone with CLONE_NEWNET ≈1.4 ms of a ≈4 ms spawn, most of it waiting
/// on the teardown of the previous build's namespace), so one thread keeps `depth` fresh ones
/// ready, `lo` up, off the request's path; `Sandbox.spawn` enters one just for the clone.
/// Each namespace serves one sandbox, never two, and is what the clone would have made: a new
/// namespace with only `lo`, up. Its owner is the daemon's user namespace, not the build's:
/// in user-namespace mode that changes nothing the builder can do (no capability over either,
/// nested namespaces included), and `lo` is already up. Root only (unshare(CLONE_NEWNET));
/// without it, or when none is ready, the clone makes one as before.
final class NetworkNamespaces: @unchecked Sendable {
    static let shared = NetworkNamespaces()
    static let depth = 2

    private let lock = ConditionLock()
    // Guarded by `lock`.
    private var ready: [FileDescriptor] = []
    private var started = false
    private var failed = false
    /// The daemon's own network namespace, where the spawning thread returns.
    private(set) var home: FileDescriptor?

    /// A fresh namespace of one's own, or nil (then CLONE_NEWNET).
    func take() -> FileDescriptor? {
        lock.withLock {
            if !started { start() }
            guard !ready.isEmpty else { return nil }
            lock.broadcast()
            return ready.removeFirst()
        }
    }

    /// Holding `lock`.
    private func start() {
        started = true
        guard ProcessIdentity.effectiveUserID == 0, let home = try? FileDescriptor.open("/proc/thread-self/ns/net", [.readOnly]) else {
            failed = true
            return
        }
        self.home = home
        if (try? SystemThread.start { [self] in self.fill(home) }) == nil { failed = true }
    }

    private func fill(_ home: FileDescriptor) {
        while true {
            lock.withLock { while ready.count >= Self.depth { lock.wait() } }
            let fd = csandbox_make_network_namespace(home.rawValue)
            guard fd >= 0 else {
                // Not allowed here (e.g. a seccomp filter, a container): the clone makes them.
                lock.withLock { failed = true }
                return
            }
            lock.withLock { ready.append(FileDescriptor(owning: fd)) }
        }
    }
}
