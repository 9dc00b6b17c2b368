import Testing
@testable import Daemon

/// guix-daemon's per-deletion progress (`[N MiB]`, or `[P%]` of an explicit limit) and which
/// `maxFreed` words mean "no limit".
@Suite(.tags(.small)) struct GCProgressTests {
    @Test func progressInMebibytesOrPercent() {
        #expect(LocalStoreService.guixProgress(freed: 0, maxFreed: .max) == "0 MiB")
        #expect(LocalStoreService.guixProgress(freed: 3 * 1024 * 1024 - 1, maxFreed: .max) == "2 MiB", "whole MiB, rounded down")
        #expect(LocalStoreService.guixProgress(freed: 0, maxFreed: 1000) == "0%")
        #expect(LocalStoreService.guixProgress(freed: 499, maxFreed: 1000) == "49%")
        #expect(LocalStoreService.guixProgress(freed: 5000, maxFreed: 1000) == "100%", "capped")
    }

    @Test func byteLimits() {
        #expect(LocalStoreService.byteLimit(0) == .max, "old Nix clients' 0")
        #expect(LocalStoreService.byteLimit(UInt64(Int64.max)) == .max, "Guix's %long-long-max")
        #expect(LocalStoreService.byteLimit(.max) == .max)
        #expect(LocalStoreService.byteLimit(10 << 30) == 10 << 30)
    }
}
