import Glibc

/// The real-time clock, for timestamps that go into the database (registration, failures).
public enum WallClock {
    /// Whole seconds since the epoch.
    public static var secondsSinceEpoch: Int64 { Int64(time(nil)) }
}
