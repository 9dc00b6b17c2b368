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

        let argv = ([executable] + arguments).map { strdup($0) }
        defer { argv.forEach { free($0) } }
        let envp = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } }
        defer { envp?.forEach { free($0) } }

        var pid: pid_t = 0
        let rc: Int32 = (argv + [nil]).withUnsafeBufferPointer { argvBuffer in
            if let envp {
                return (envp + [nil]).withUnsafeBufferPointer { envBuffer in
                    posix_spawn(&pid, executable, &actions, nil, argvBuffer.baseAddress!, envBuffer.baseAddress!)
                }
            }
            return posix_spawn(&pid, executable, &actions, nil, argvBuffer.baseAddress!, environ)
        }
        try output.write.close()
        try errors.write.close()
        if rc != 0 { throw SystemError("posix_spawn", path: executable, errno: Errno(rawValue: rc)) }

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
