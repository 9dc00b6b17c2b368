import Glibc

/// One request to the kernel's CPU latency QoS (`/dev/cpu_dma_latency`; the kernel's
/// Documentation/power/pm_qos_interface.rst). While a request asks for a limit, idle CPUs only
/// enter idle states that wake within it; with 0 they poll instead of halting, so waking a task
/// on one needs no interrupt — on a VM that is the difference between ~1 µs and ~90 µs. The
/// request exists while the descriptor is open and starts with no limit; `lift()` returns it
/// to that. Only root may open the device.
public final class CPULatencyRequest {
    private let descriptor: FileDescriptor
    /// Whether a limit is in force now.
    public private(set) var isLimited = false

    public static let devicePath = "/dev/cpu_dma_latency"
    /// The kernel's "no limit" value (PM_QOS_CPU_LATENCY_DEFAULT_VALUE, 2000 s in µs).
    static let noLimit: Int32 = 2_000_000_000

    /// Opens a request of our own, with no limit yet.
    public init() throws(SystemError) {
        descriptor = try FileDescriptor.open(Self.devicePath, [.writeOnly])
    }

    /// Idle CPUs must wake within `microseconds` until `lift()`.
    public func limit(microseconds: Int32) throws(SystemError) {
        try write(max(0, microseconds))
        isLimited = true
    }

    /// Back to no limit (the device stays open for the next `limit`).
    public func lift() throws(SystemError) {
        guard isLimited else { return }
        isLimited = false
        try write(Self.noLimit)
    }

    /// The limit the kernel applies now, over every open request (reading the device), or nil.
    public static func effectiveLimit() -> Int32? {
        guard let device = try? FileDescriptor.open(devicePath, [.readOnly]) else { return nil }
        var value: Int32 = 0
        let n = withUnsafeMutableBytes(of: &value) { try? device.readFully(into: $0) }
        return n == MemoryLayout<Int32>.size ? value : nil
    }

    /// The device takes the value as a native-endian s32.
    private func write(_ value: Int32) throws(SystemError) {
        var value = value
        try withUnsafeBytes(of: &value) { (bytes) throws(SystemError) in try descriptor.writeAll(bytes) }
    }
}
