/// Stopping a request from outside (guix-daemon.md §0.5: a client that hangs up interrupts its
/// operation and its builds are killed): `cancel()` is thread-safe; running sandboxes are
/// SIGKILLed (their whole PID namespace dies), and no new build starts.
import Sandbox
import LinuxSystem

final class Cancellation: @unchecked Sendable {
    private let lock = ConditionLock()
    private var cancelled = false
    private var running: [ObjectIdentifier: SandboxProcess] = [:]

    var isCancelled: Bool { lock.withLock { cancelled } }

    func cancel() {
        let processes: [SandboxProcess] = lock.withLock {
            cancelled = true
            return Array(running.values)
        }
        for process in processes { try? process.kill() }
    }

    /// Registers a started sandbox; false (and the sandbox killed) if already cancelled.
    func started(_ process: SandboxProcess) -> Bool {
        let ok: Bool = lock.withLock {
            if cancelled { return false }
            running[ObjectIdentifier(process)] = process
            return true
        }
        if !ok { try? process.kill() }
        return ok
    }

    func finished(_ process: SandboxProcess) {
        lock.withLock { _ = running.removeValue(forKey: ObjectIdentifier(process)) }
    }
}
