/// Finds which of a set of store-path hash parts (32 nix32 characters each) occur in a byte
/// stream, typically a NAR as it is written or read. Bytes arrive in chunks of any size; a hash
/// part spanning two chunks is still found (the last 31 bytes are carried over).
///
/// Speed comes from the alphabet: a 32-byte window can only match if all its bytes are nix32
/// characters, so each window is checked from its end backwards and, at the first byte outside
/// the alphabet at position j, the scan jumps past it (j + 1 bytes). Binary data rarely holds
/// long runs of nix32 characters, so most windows cost one table lookup. Only windows made
/// entirely of nix32 characters reach the candidate table (a 64 Ki-bit filter on the first
/// 8 bytes, then an exact comparison).
public final class ReferenceScanner: NARSink {
    /// The hash parts searched for, in the order given.
    public let hashParts: [String]
    private let candidates: [[UInt8]]
    /// First 8 bytes (as a little-endian u64) → indices into `candidates`.
    private let byPrefix: [UInt64: [Int]]
    private let filter: UnsafeMutablePointer<UInt64>
    private let isNix32: UnsafeMutablePointer<Bool>
    private var seen: [Bool]
    private var tail: [UInt8] = []
    private static let width = StorePath.hashPartLength

    public init(hashParts: some Sequence<String>) throws(FormatError) {
        var parts: [String] = []
        var candidates: [[UInt8]] = []
        var byPrefix: [UInt64: [Int]] = [:]
        filter = .allocate(capacity: 1024)
        filter.initialize(repeating: 0, count: 1024)
        let table = UnsafeMutablePointer<Bool>.allocate(capacity: 256)
        table.initialize(repeating: false, count: 256)
        for c in NixBase32.alphabet { table[Int(c)] = true }
        isNix32 = table
        for part in hashParts {
            let bytes = Array(part.utf8)
            guard bytes.count == Self.width, bytes.allSatisfy({ table[Int($0)] }) else {
                filter.deallocate()
                table.deallocate()
                throw .invalidStorePath(part, reason: "a hash part is 32 nix32 characters")
            }
            let key = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
            byPrefix[key, default: []].append(candidates.count)
            let bit = Self.filterBit(key)
            filter[bit >> 6] |= 1 << UInt64(bit & 63)
            parts.append(part)
            candidates.append(bytes)
        }
        self.hashParts = parts
        self.candidates = candidates
        self.byPrefix = byPrefix
        seen = Array(repeating: false, count: candidates.count)
    }

    deinit {
        filter.deallocate()
        isNix32.deallocate()
    }

    /// The hash parts seen so far.
    public var found: Set<String> {
        Set(hashParts.indices.lazy.filter { self.seen[$0] }.map { self.hashParts[$0] })
    }

    @inline(__always)
    private static func filterBit(_ key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 48)
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws { update(bytes) }

    public func update(_ chunk: UnsafeRawBufferPointer) {
        guard !chunk.isEmpty, !candidates.isEmpty else { return }
        let keep = Self.width - 1
        if !tail.isEmpty {
            // Windows starting in the carried-over tail end within the first 31 new bytes.
            var seam = tail
            seam.append(contentsOf: chunk.prefix(keep))
            seam.withUnsafeBytes { scan($0) }
        }
        scan(chunk)
        if chunk.count >= keep {
            tail = Array(chunk.suffix(keep))
        } else {
            tail.append(contentsOf: chunk)
            if tail.count > keep { tail.removeFirst(tail.count - keep) }
        }
    }

    public func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    private func scan(_ buffer: UnsafeRawBufferPointer) {
        let n = buffer.count
        guard n >= Self.width, let base = buffer.baseAddress else { return }
        let p = base.assumingMemoryBound(to: UInt8.self)
        let table = isNix32
        let last = n - Self.width
        var i = 0
        outer: while i <= last {
            var j = Self.width - 1
            while j >= 0 {
                if !table[Int(p[i + j])] {
                    i += j + 1
                    continue outer
                }
                j -= 1
            }
            // A window of nix32 characters; the next windows each add one byte at the end.
            lookup(base + i)
            i += 1
            while i <= last && table[Int(p[i + Self.width - 1])] {
                lookup(base + i)
                i += 1
            }
            // p[i + 31] is outside the alphabet: no window containing it can match.
            i += Self.width
        }
    }

    @inline(__always)
    private func lookup(_ window: UnsafeRawPointer) {
        let key = window.loadUnaligned(as: UInt64.self)
        let bit = Self.filterBit(key)
        guard filter[bit >> 6] & (1 << UInt64(bit & 63)) != 0, let indices = byPrefix[key] else { return }
        for index in indices where !seen[index] {
            let matches = candidates[index].withUnsafeBytes { memoryEqual($0.baseAddress!, window, Self.width) }
            if matches { seen[index] = true }
        }
    }
}

@inline(__always)
private func memoryEqual(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ count: Int) -> Bool {
    for k in 0..<count where a.load(fromByteOffset: k, as: UInt8.self) != b.load(fromByteOffset: k, as: UInt8.self) {
        return false
    }
    return true
}
