import Glibc

/// Process-wide facilities a long-running server needs: detached threads, SIGTERM/SIGINT as a
/// flag the accept loop polls, SIGPIPE ignored (a vanished client is EPIPE, not death), and
/// user names for uids.
public enum DaemonProcess {
    nonisolated(unsafe) private static var terminationFlag: sig_atomic_t = 0

    /// Installs handlers for SIGTERM and SIGINT that only set a flag; ignores SIGPIPE.
    public static func installSignalHandlers() {
        signal(SIGPIPE, SIG_IGN)
        let handler: @convention(c) (Int32) -> Void = { _ in DaemonProcess.terminationFlag = 1 }
        signal(SIGTERM, handler)
        signal(SIGINT, handler)
        // A parent may have started us with these blocked (the mask is inherited).
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        sigprocmask(SIG_UNBLOCK, &set, nil)
    }

    public static var terminationRequested: Bool { terminationFlag != 0 }

    /// Runs `body` on a new detached thread.
    public static func detachThread(_ body: @escaping @Sendable () -> Void) throws(SystemError) {
        final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var thread = pthread_t()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        pthread_attr_setstacksize(&attributes, 8 << 20)
        defer { pthread_attr_destroy(&attributes) }
        let status = pthread_create(&thread, &attributes, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            box.body()
            return nil
        }, box)
        if status != 0 {
            Unmanaged<Box>.fromOpaque(box).release()
            throw SystemError("pthread_create", errno: Errno(rawValue: status))
        }
    }

    /// The login name of `uid`, or nil if it has none.
    public static func userName(of uid: UInt32) -> String? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.pw_name else { return nil }
        return String(cString: name)
    }
}
