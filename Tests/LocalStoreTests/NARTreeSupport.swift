import Glibc
import LinuxSystem

/// Random file trees on disk for NAR tests: regular files (some executable, some empty, some
/// larger than a dump chunk), symlinks (dangling, absolute, to siblings), empty directories and
/// names that are not UTF-8.
struct RandomTree {
    /// The target's one seeded generator (ChildProcess.swift): the same sequence for a seed.
    var generator: SeededGenerator

    init(state: UInt64) { generator = SeededGenerator(seed: state) }

    mutating func next() -> UInt64 { generator.next() }

    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }

    mutating func name() -> [UInt8] {
        while true {
            let length = 1 + below(14)
            let name: [UInt8] = (0..<length).map { _ in
                // Mostly printable, sometimes any byte except NUL and '/'.
                var b = below(4) == 0 ? UInt8(1 + below(255)) : UInt8(0x21 + below(94))
                if b == 0x2F { b = 0x5F }
                return b
            }
            if name != [0x2E] && name != [0x2E, 0x2E] { return name }
        }
    }

    /// Fills `directory` with a random tree of at most `depth` more levels.
    mutating func fill(_ directory: FileDescriptor, depth: Int, maxEntries: Int = 7) throws {
        var used = Set<[UInt8]>()
        for _ in 0..<below(maxEntries + 1) {
            let entry = name()
            guard used.insert(entry).inserted else { continue }
            switch below(10) {
            case 0...3 where depth > 0:
                try directory.makeDirectory(at: entry)
                let child = try directory.openDirectory(at: entry)
                try fill(child, depth: depth - 1, maxEntries: maxEntries)
            case 0...2:
                let target: [UInt8] = [Array("/etc/passwd".utf8), Array("../nowhere".utf8), name(),
                                       Array(used.first!)].randomElement(using: &self)!
                try directory.makeSymlink(at: entry, target: target)
            default:
                let size = [0, 1, 8, 13, below(3000), below(300_000)][below(6)]
                let file = try directory.open(at: entry, [.writeOnly, .create, .exclusive, .noFollow])
                try file.writeAll((0..<size).map { _ in UInt8(truncatingIfNeeded: next()) })
                try file.changeMode(below(2) == 0 ? 0o755 : 0o644)
            }
        }
    }
}

extension RandomTree: RandomNumberGenerator {}

/// Reads a whole file (test-sized).
func readFile(_ path: String) throws -> [UInt8] {
    try FileDescriptor.open(path, [.readOnly]).readAll()
}
