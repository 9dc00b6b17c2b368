import Glibc
import LinuxSystem
import LocalStore
import StoreFormats

/// NAR dump + SHA-256 of a 512 MiB tree of ~5,000 files against `openssl dgst -sha256` over the
/// same contents concatenated (the physical limit: the hash itself), and reference scanning over
/// a 256 MiB buffer against memchr over the same buffer (memory bandwidth).
/// The tree is generated once and cached in the bench directory.
enum NARBench {
    static let totalBytes = 512 << 20
    static let fileCount = 5_000
    static let directoryCount = 60

    static func run(_ work: BenchDirectory) throws {
        let tree = work.path + "/nar-tree"
        let concatenated = work.path + "/nar-tree.concat"
        try generateIfNeeded(tree: tree, concatenated: concatenated, in: work.path)

        // Warm the page cache for both inputs so neither side pays for the disk.
        _ = try NARDumper.hash(path: tree)
        _ = system("cat '\(concatenated)' > /dev/null")

        // Interleaved best-of-5: on a shared machine load comes and goes; alternating the two
        // sides exposes both to the same conditions.
        var best = Double.infinity
        var reference = Double.infinity
        var narSize: UInt64 = 0
        for _ in 0..<5 {
            var start = now()
            let (_, size) = try NARDumper.hash(path: tree)
            best = min(best, now() - start)
            narSize = size
            start = now()
            guard system("openssl dgst -sha256 '\(concatenated)' > /dev/null") == 0 else {
                throw SystemError("openssl dgst", path: concatenated, errno: .invalidArgument)
            }
            reference = min(reference, now() - start)
        }
        let contentMB = Double(totalBytes) / 1e6
        report("nar-dump-sha256", value: contentMB / best, unit: "MB/s",
               reference: contentMB / reference, referenceName: "openssl dgst -sha256")
        print("bench nar-dump-sha256: NAR of \(narSize) bytes for \(totalBytes) content bytes in \(fileCount) files")

        try scan()
    }

    static func scan() throws {
        let size = 256 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
        defer { buffer.deallocate() }
        var random = SplitMix(state: 42)
        let words = buffer.bindMemory(to: UInt64.self)
        for i in words.indices { words[i] = random.next() }
        // Store paths sprinkled through the data, as in real outputs (RPATHs, shebangs, text).
        let alphabet = Array("0123456789abcdfghijklmnpqrsvwxyz".utf8)
        func hashPart() -> [UInt8] { (0..<32).map { _ in alphabet[Int(random.next() % 32)] } }
        let wanted = (0..<200).map { _ in hashPart() }
        let text = Array("/gnu/store/".utf8)
        var position = 0
        while position + 4096 < size {
            let part = random.next() % 4 == 0 ? wanted[Int(random.next() % 200)] : hashPart()
            let path = text + part + Array("-glibc-2.41/lib:".utf8)
            (buffer.baseAddress! + position).copyMemory(from: path, byteCount: path.count)
            position += 1024 + Int(random.next() % 8192)
        }
        let scanner = try ReferenceScanner(hashParts: wanted.map { String(decoding: $0, as: UTF8.self) })
        var best = Double.infinity
        for _ in 0..<3 {
            let start = now()
            var offset = 0
            while offset < size {
                scanner.update(UnsafeRawBufferPointer(rebasing: buffer[offset..<min(size, offset + (1 << 20))]))
                offset += 1 << 20
            }
            best = min(best, now() - start)
        }
        precondition(scanner.found.count > 100, "the planted hash parts were not found")
        var reference = Double.infinity
        for _ in 0..<3 {
            let start = now()
            // A byte that occurs: count them all with memchr, the libc's vectorised scan.
            var p = UnsafeRawPointer(buffer.baseAddress!)
            let end = p + size
            var hits = 0
            while let found = memchr(p, 0x2F, end - p) {
                hits += 1
                p = UnsafeRawPointer(found) + 1
            }
            reference = min(reference, now() - start)
            precondition(hits > 0)
        }
        report("reference-scan", value: Double(size) / 1e9 / best, unit: "GB/s",
               reference: Double(size) / 1e9 / reference, referenceName: "memchr count of '/'")
    }

    /// Writes the tree and, in the same pass, the concatenation of its files' contents.
    static func generateIfNeeded(tree: String, concatenated: String, in directory: String) throws {
        let stamp = "\(totalBytes) \(fileCount) \(directoryCount)\n"
        if let existing = try? FileDescriptor.open(directory + "/nar-tree.stamp", [.readOnly]).readAll(),
           existing == Array(stamp.utf8) { return }
        let base = try FileDescriptor.open(directory, [.readOnly, .directory])
        try base.removeTree(at: Array("nar-tree".utf8))
        try base.makeDirectory(at: Array("nar-tree".utf8))
        let root = try base.openDirectory(at: "nar-tree")
        var directories = [root]
        for d in 0..<directoryCount {
            try root.makeDirectory(at: Array("dir\(d)".utf8))
            directories.append(try root.openDirectory(at: "dir\(d)"))
        }
        let concat = try base.open(at: "nar-tree.concat", [.writeOnly, .create, .truncate])
        var random = SplitMix(state: 7)
        // Sizes uniform in [0, 2·mean), scaled so they sum to exactly totalBytes.
        var sizes = (0..<fileCount).map { _ in Double(random.next() % 1_000_000) }
        let scale = Double(totalBytes) / sizes.reduce(0, +)
        sizes = sizes.map { ($0 * scale).rounded(.down) }
        var intSizes = sizes.map { Int($0) }
        intSizes[0] += totalBytes - intSizes.reduce(0, +)
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { chunk.deallocate() }
        for (index, size) in intSizes.enumerated() {
            let parent = directories[index % directories.count]
            let file = try parent.open(at: "file\(index)", [.writeOnly, .create, .truncate], mode: index % 7 == 0 ? 0o755 : 0o644)
            var left = size
            while left > 0 {
                let n = min(left, chunk.count)
                let words = chunk.bindMemory(to: UInt64.self)
                for i in 0..<((n + 7) / 8) { words[i] = random.next() }
                let piece = UnsafeRawBufferPointer(rebasing: chunk[0..<n])
                try file.writeAll(piece)
                try concat.writeAll(piece)
                left -= n
            }
        }
        let stampFile = try base.open(at: "nar-tree.stamp", [.writeOnly, .create, .truncate])
        try stampFile.writeAll(Array(stamp.utf8))
    }
}

/// A fast deterministic generator for bench data.
struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
