import CSandbox
import Glibc

/// Running an ordinary program to completion — `groupadd`, `useradd`, `chown -R`, `unshare` —
/// for the administrative commands (`cloister setup`). posix_spawn (no Swift runs in the
/// child), stdin from /dev/null, stdout and stderr captured through close-on-exec pipes that
/// are drained together so neither can fill up and stall the child. Not for builds: those go
/// through the Sandbox module.
public struct ProgramResult: Sendable, Equatable {
    public let status: ExitStatus
    public let standardOutput: [UInt8]
    public let standardError: [UInt8]

    /// The captured stderr (else stdout) as one trimmed line of text, for error messages.
    public var diagnostic: String {
        let bytes = standardError.isEmpty ? standardOutput : standardError
        let text = String(decoding: bytes, as: UTF8.self)
        return text.split(separator: "\n").map { $0.trimmingSpaces }.filter { !$0.isEmpty }.joined(separator: "; ")
    }
}

public enum Program {
    /// Runs `executable` (an absolute path) with `arguments` (argv[1…]) and waits for it.
    /// `environment` nil means this process's environment.
    public static func run(_ executable: String, _ arguments: [String],
                           environment: [String: String]? = nil) throws(SystemError) -> ProgramResult {
        let output = try makePipe()
        let errors = try makePipe()

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, output.write.rawValue, 1)
        posix_spawn_file_actions_adddup2(&actions, errors.write.rawValue, 2)

        let spawned: Result<pid_t, SystemError>
        do throws(SystemError) { spawned = .success(try spawn(executable, argv: [executable] + arguments, environment: environment, actions: &actions)) } catch { spawned = .failure(error) }
        try output.write.close()
        try errors.write.close()
        let pid = try spawned.get()

        var collected: [[UInt8]] = [[], []]
        var open = [output.read, errors.read]
        var indices = [0, 1]
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 14, alignment: 8)
        defer { buffer.deallocate() }
        while !open.isEmpty {
            let ready = try pollReadable(open, timeoutMilliseconds: -1)
            var index = open.count - 1
            while index >= 0 {
                if ready[index] {
                    let n = try open[index].read(into: buffer)
                    if n == 0 {
                        open.remove(at: index)
                        indices.remove(at: index)
                    } else {
                        collected[indices[index]].append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                    }
                }
                index -= 1
            }
        }

        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if Errno.current != .interrupted { throw SystemError("waitpid", path: executable, errno: .current) }
        }
        return ProgramResult(status: ExitStatus(waitStatus: status), standardOutput: collected[0], standardError: collected[1])
    }

    /// Starts `executable` in the background (a helper such as `guix discover`, a daemon under
    /// test): stdin from /dev/null, stdout and stderr appended to `logPath` (created 0644 if
    /// missing), or this process's own when `logPath` is nil. The returned handle (a pidfd)
    /// signals and reaps it.
    public static func start(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                             logPath: String?) throws(SystemError) -> ProcessHandle {
        let log = try logPath.map { (path) throws(SystemError) in
            try FileDescriptor.open(path, [.writeOnly, .create, .append], mode: 0o644)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if let log {
            posix_spawn_file_actions_adddup2(&actions, log.rawValue, 1)
            posix_spawn_file_actions_adddup2(&actions, log.rawValue, 2)
        }
        let pid = try spawn(executable, argv: [executable] + arguments, environment: environment, actions: &actions)
        let pidfd = csandbox_pidfd_open(pid)
        if pidfd < 0 { throw SystemError("pidfd_open", path: executable, errno: .current) }
        return ProcessHandle(pid: pid, owningPidfd: pidfd)
    }

    /// posix_spawn of `executable` with `argv` (argv[0] included) and `environment` (nil: this
    /// process's), with the caller's file actions. Shared by `Program` and
    /// `DaemonProcess.spawnWorker`, so both reset the child's signals the same way.
    static func spawn(_ executable: String, argv arguments: [String], environment: [String: String]?,
                      actions: inout posix_spawn_file_actions_t) throws(SystemError) -> pid_t {
        let argv = arguments.map { strdup($0) }
        defer { argv.forEach { free($0) } }
        let envp = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } }
        defer { envp?.forEach { free($0) } }
        // The child starts with no blocked signals and every signal at its default action:
        // a caller (a test runner, a daemon) may block or ignore SIGTERM/SIGPIPE, and posix_spawn
        // would otherwise pass that on.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let rc: Int32 = (argv + [nil]).withUnsafeBufferPointer { argvBuffer in
            if let envp {
                return (envp + [nil]).withUnsafeBufferPointer { envBuffer in
                    posix_spawn(&pid, executable, &actions, &attributes, argvBuffer.baseAddress!, envBuffer.baseAddress!)
                }
            }
            return posix_spawn(&pid, executable, &actions, &attributes, argvBuffer.baseAddress!, environ)
        }
        if rc != 0 { throw SystemError("posix_spawn", path: executable, errno: Errno(rawValue: rc)) }
        return pid
    }

    /// `which NAME`: the first executable regular file called `name` in the colon-separated
    /// `searchPath`; nil if none.
    public static func find(_ name: String, searchPath: String) -> String? {
        for directory in searchPath.split(separator: ":") where directory.hasPrefix("/") {
            let candidate = directory.hasSuffix("/") ? "\(directory)\(name)" : "\(directory)/\(name)"
            if access(candidate, X_OK) == 0, let status = try? HostPath.status(candidate), status.type != .directory {
                return candidate
            }
        }
        return nil
    }
}

private extension Substring {
    var trimmingSpaces: Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" || last == "\r" { text = text.dropLast() }
        return text
    }
}
