import Glibc

/// CPU time the calling process has used so far, user and system, in seconds (getrusage
/// RUSAGE_SELF: every thread of the process; the kernel samples the split at ticks, so only the
/// sum is exact). For profiling logs.
public enum ProcessCPUTime {
    public static var seconds: (user: Double, system: Double) {
        var usage = rusage()
        guard getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage) == 0 else { return (0, 0) }
        return (Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6,
                Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6)
    }
}
