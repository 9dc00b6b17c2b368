import Testing
import Foundation
import Glibc

/// Issue 3/4: a NAR much larger than the memory bound goes through the daemon in constant
/// memory. A 300 MiB sparse file (generated on disk, never held by the test) is added with
/// Debian's `nix-store`, recursively (AddToStore with a NAR) and flat (`--add-fixed`: the file's
/// raw bytes with no length up front), while the peak RSS (VmHWM) of the connection's worker
/// process is sampled from /proc.
@Suite(.serialized, .tags(.large), .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/nix-store")))
final class LargeAddMemoryTests {
    static let fileSize: off_t = 300 << 20
    static let rssLimitKiB = 64 << 10
    var root: String { scratch.root }
    let scratch: TemporaryDaemon
    var daemon: Process { scratch.process }
    var environment: [String: String] { scratch.environment }

    init() throws {
        scratch = try TemporaryDaemon(label: "bignar")
    }

    /// A sparse file of `fileSize` bytes with a few non-zero bytes, written without buffering it.
    func bigFile(_ name: String) throws -> String {
        let path = root + "/" + name
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        try #require(fd >= 0)
        defer { close(fd) }
        try #require(ftruncate(fd, Self.fileSize) == 0)
        for (offset, text) in [(0, "start of \(name)"), (Int(Self.fileSize) / 2, "middle"), (Int(Self.fileSize) - 3, "end")] {
            let bytes = Array(text.utf8)
            try #require(pwrite(fd, bytes, bytes.count, off_t(offset)) == bytes.count)
        }
        return path
    }

    /// Runs a client to its end while sampling the daemon's worker processes; returns the
    /// client's status and output and the largest VmHWM (KiB) seen in any worker.
    func runSampling(_ arguments: [String]) throws -> (status: Int32, out: String, peakKiB: Int) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = arguments
        p.environment = environment
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        var peak = 0
        var sawWorker = false
        while p.isRunning {
            for pid in children(of: daemon.processIdentifier) {
                if let hwm = vmHWM(pid) { peak = max(peak, hwm); sawWorker = true }
            }
            usleep(10_000)
        }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(sawWorker, "no worker process was seen while the client ran")
        return (p.terminationStatus, String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines), peak)
    }

    func children(of pid: Int32) -> [Int32] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.flatMap { task -> [Int32] in
            let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8)) ?? ""
            return text.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
    }

    func vmHWM(_ pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return Int(line.dropFirst(6).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "")
        }
        return nil
    }

    func output(_ arguments: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = arguments
        p.environment = environment
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func recursiveAddOfA300MiBFileStaysSmall() throws {
        let file = try bigFile("big-recursive")
        let add = try runSampling(["nix-store", "--add", file])
        #expect(add.status == 0)
        print("recursive add of \(Self.fileSize >> 20) MiB: worker VmHWM \(add.peakKiB) KiB")
        #expect(add.peakKiB < Self.rssLimitKiB, "worker peak RSS \(add.peakKiB) KiB")
        let expected = try output(["nix-hash", "--type", "sha256", "--base32", file])
        #expect(try output(["nix-store", "-q", "--hash", add.out]) == "sha256:" + expected)
        #expect(try output(["nix-store", "--print-fixed-path", "--recursive", "sha256", expected, "big-recursive"]) == add.out)
    }

    @Test func flatAddOfA300MiBFileStaysSmall() throws {
        let file = try bigFile("big-flat")
        let add = try runSampling(["nix-store", "--add-fixed", "sha256", file])
        #expect(add.status == 0)
        print("flat add of \(Self.fileSize >> 20) MiB: worker VmHWM \(add.peakKiB) KiB")
        #expect(add.peakKiB < Self.rssLimitKiB, "worker peak RSS \(add.peakKiB) KiB")
        let flat = try output(["nix-hash", "--type", "sha256", "--flat", "--base32", file])
        #expect(try output(["nix-store", "--print-fixed-path", "sha256", flat, "big-flat"]) == add.out)
        let nar = try output(["nix-hash", "--type", "sha256", "--base32", file])
        #expect(try output(["nix-store", "-q", "--hash", add.out]) == "sha256:" + nar)
    }

    /// ImportPaths learns the path only after the NAR: the NAR is staged in the store, not memory.
    @Test func importOfA300MiBExportStaysSmall() throws {
        let file = try bigFile("big-import")
        let path = try output(["nix-store", "--add", file])
        let archive = root + "/big.export"
        #expect(try output(["sh", "-c", "nix-store --export \"$0\" > \"$1\" && nix-store --delete \"$0\" >/dev/null 2>&1; echo $?", path, archive]) == "0")
        #expect(try output(["sh", "-c", "test -e \"$0\"; echo $?", path]) == "1")
        let imported = try runSampling(["sh", "-c", "exec nix-store --import < \"$0\"", archive])
        #expect(imported.status == 0)
        #expect(imported.out == path)
        print("import of \(Self.fileSize >> 20) MiB: worker VmHWM \(imported.peakKiB) KiB")
        #expect(imported.peakKiB < Self.rssLimitKiB, "worker peak RSS \(imported.peakKiB) KiB")
        let expected = try output(["nix-hash", "--type", "sha256", "--base32", file])
        #expect(try output(["nix-store", "-q", "--hash", path]) == "sha256:" + expected)
    }
}
