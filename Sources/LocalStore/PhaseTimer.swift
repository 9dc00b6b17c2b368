/// Phase timings for profiling the daemon: per build with `CLOISTER_BUILD_TIMINGS=1` in the
/// daemon's environment, per garbage collection with `CLOISTER_GC_TIMINGS=1`; one line on
/// stderr each, e.g. `cloister: timings /gnu/store/…-x.drv: closure 0.41 lock 0.05 … total 6.20 ms`.
/// Off (and free: no clock reads) unless asked for.
import LinuxSystem

public final class PhaseTimer {
    public static let buildTimings = flag("CLOISTER_BUILD_TIMINGS")
    public static let gcTimings = flag("CLOISTER_GC_TIMINGS")

    private static func flag(_ name: String) -> Bool {
        ProcessEnvironment.current()[name].map { !$0.isEmpty && $0 != "0" } ?? false
    }

    private let enabled: Bool
    private var start: Double
    private var last: Double
    private var phases: [(String, Double)] = []

    public init(enabled: Bool = PhaseTimer.buildTimings) {
        self.enabled = enabled
        start = enabled ? WallClock.monotonicSeconds : 0
        last = start
    }

    /// Ends the phase called `name` now.
    public func mark(_ name: String) {
        guard enabled else { return }
        let now = WallClock.monotonicSeconds
        phases.append((name, now - last))
        last = now
    }

    public func report(_ what: String) {
        guard enabled else { return }
        let ms = { (seconds: Double) in String(Int((seconds * 100_000).rounded())).paddedMilliseconds }
        let parts = phases.map { "\($0.0) \(ms($0.1))" } + ["total \(ms(last - start)) ms"]
        let line = "cloister: timings \(what): " + parts.joined(separator: " ") + "\n"
        try? FileDescriptor.standardError.writeAll(Array(line.utf8))
    }
}

private extension String {
    /// Hundredths of a millisecond → "m.hh".
    var paddedMilliseconds: String {
        let digits = count < 3 ? String(repeating: "0", count: 3 - count) + self : self
        return String(digits.dropLast(2)) + "." + String(digits.suffix(2))
    }
}
