/// Test helpers for process-level tests: re-running this very test binary as a worker (a
/// `@Test` enabled only by an environment variable), with a pipe on fd 3 through which the
/// worker reports progress one byte per completed operation, and a seeded random generator so a
/// failing iteration can be replayed from its seed.
import Glibc
import LinuxSystem

/// A child process running one worker test of this binary.
final class WorkerProcess {
    let pid: pid_t
    /// Read end of the worker's fd 3.
    let progress: FileDescriptor

    /// Starts this test binary filtered to `test` (a regex on the test's full name) with
    /// `environment` added. The worker's stdout and stderr go to `log` (or /dev/null).
    init(test: String, environment: [String: String], log: String = "/dev/null") throws {
        let (readEnd, writeEnd) = try makePipe()
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, writeEnd.rawValue, 3)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        let executable = WorkerProcess.executable
        let arguments = [executable, "--testing-library", "swift-testing", "--filter", test]
        var env: [String] = []
        var index = 0
        while let entry = environ[index] {
            let text = String(cString: entry)
            if !environment.keys.contains(where: { text.hasPrefix($0 + "=") }) { env.append(text) }
            index += 1
        }
        env += environment.map { "\($0.key)=\($0.value)" }
        var argv = arguments.map { strdup($0) } + [nil]
        var envp = env.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) }; for p in envp { free(p) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, executable, &actions, nil, &argv, &envp)
        try writeEnd.close()
        guard rc == 0 else { throw TestFailure("posix_spawn \(executable): \(rc)") }
        pid = child
        progress = readEnd
    }

    /// This test binary (the worker is the same executable).
    static let executable: String = {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        return n > 0 ? String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : "/proc/self/exe"
    }()

    /// Waits until the worker reported `count` more operations; false if it exited first.
    func awaitProgress(_ count: Int) -> Bool {
        var seen = 0
        var byte: UInt8 = 0
        while seen < count {
            let n = (try? withUnsafeMutableBytes(of: &byte) { try progress.read(into: $0) }) ?? 0
            if n == 1 { seen += 1; continue }
            return false
        }
        return true
    }

    func kill(_ signal: Int32 = SIGKILL) { _ = Glibc.kill(pid, signal) }

    /// Reaps the child; returns the raw wait status.
    @discardableResult
    func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        try? progress.close()
        return status
    }

    static func wasKilled(_ status: Int32) -> Bool { status & 0x7f == SIGKILL }
}

/// Writes one progress byte to fd 3 (the parent's pipe) if there is one.
func reportProgress() {
    var byte: UInt8 = 1
    _ = write(3, &byte, 1)
}

/// SplitMix64: small, fast, and reproducible from a seed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(count + 8)
        while out.count < count { withUnsafeBytes(of: next()) { out += $0 } }
        return Array(out.prefix(count))
    }
}

func environmentValue(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }

/// Monotonic time in seconds.
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
