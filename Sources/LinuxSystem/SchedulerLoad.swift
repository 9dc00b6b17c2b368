import Glibc

/// What the scheduler is doing right now, for code that may burn CPU only when nobody else
/// wants it: the number of online CPUs and of tasks running or ready to run on the whole
/// machine (the fourth field of /proc/loadavg, `running/total`, an instantaneous count that
/// includes the caller), and giving the CPU up to another ready task (sched_yield).
public enum SchedulerLoad {
    public static var onlineCPUs: Int { max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

    /// Tasks running or runnable now, machine-wide; nil if /proc is unreadable.
    public static func runnableTasks() -> Int? {
        let fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return nil }
        return parseRunnable(buffer[..<n])
    }

    /// "0.06 0.43 0.74 1/234 8185" -> 1.
    static func parseRunnable(_ text: ArraySlice<UInt8>) -> Int? {
        let fields = text.split(separator: UInt8(ascii: " "))
        guard fields.count >= 4, let slash = fields[3].firstIndex(of: UInt8(ascii: "/")) else { return nil }
        return Int(String(decoding: fields[3][..<slash], as: UTF8.self))
    }

    /// Lets another task that is ready on this CPU run first (sched_yield).
    public static func yieldProcessor() { _ = sched_yield() }
}
