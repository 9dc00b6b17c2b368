import Glibc

/// The real-time clock, for timestamps that go into the database (registration, failures), and
/// the monotonic clock, for intervals (it never jumps with the date).
public enum WallClock {
    /// Whole seconds since the epoch.
    public static var secondsSinceEpoch: Int64 { Int64(time(nil)) }

    /// Seconds on CLOCK_MONOTONIC (for measuring intervals only).
    public static var monotonicSeconds: Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
