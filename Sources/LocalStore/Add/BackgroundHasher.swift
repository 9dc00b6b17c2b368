/// The digests of a NAR being restored, computed on a second thread so hashing overlaps reading
/// the NAR from the client and writing its files (SHA-256 at ~1.3 GB/s is otherwise the largest
/// cost of an add): the digest of the whole stream (the NAR hash) and, for deduplication, the
/// digest of each registered `FileRange` — the NAR of one regular file whose contents are the
/// stream bytes [start, start + size). Both are taken from the same bytes in one pass.
///
/// `update` hashes inline until `inlineLimit` bytes have passed (small adds never pay for a
/// thread); after that it copies bytes into the block being filled, and full blocks go to the
/// hashing thread through a ring of `blockCount` blocks (bounded memory: the producer waits
/// when the thread is that far behind). `finish` and `key(of:)` wait for the thread to catch
/// up; `stop` ends the thread (always call it, e.g. in a `defer`).
///
/// One producer thread calls everything; the hashing thread touches only the blocks it was
/// handed, `hasher` and the ranges' writers, and publishes results under `lock`.
import StoreFormats
import LinuxSystem

final class BackgroundHasher: @unchecked Sendable {
    /// One regular file's NAR, hashed for its `.links` key as its contents pass by.
    final class FileRange: @unchecked Sendable {
        let start: UInt64
        let size: UInt64
        fileprivate var writer: NARWriter<Hasher>?
        fileprivate var fed: UInt64 = 0
        /// Set (under the hasher's lock) once complete; nil if the writer refused (never for
        /// ranges registered as documented).
        fileprivate var key: Hash?
        fileprivate var done = false
        init(start: UInt64, size: UInt64, writer: NARWriter<Hasher>) {
            self.start = start
            self.size = size
            self.writer = writer
        }
    }

    private let hasher: Hasher
    private let inlineLimit: UInt64
    private let lock = ConditionLock()
    private let blocks: [UnsafeMutableRawBufferPointer]
    private var lengths: [Int]
    /// The block the producer fills and how much of it is used.
    private var tail = 0
    private var fill = 0
    /// Oldest published block not yet hashed, and how many are published (shared, locked).
    private var head = 0
    private var queued = 0
    private var closing = false
    /// Ranges not yet complete, in stream order (shared, locked).
    private var ranges: [FileRange] = []
    /// Stream offset of the next byte the hashing side (thread or inline) will see.
    private var hashedOffset: UInt64 = 0
    private var thread: SystemThread?
    /// Bytes fed so far (the NAR size when hashing a NAR).
    private(set) var count: UInt64 = 0

    init(_ algorithm: HashAlgorithm, inlineLimit: UInt64 = 4 << 20, blockSize: Int = 1 << 18, blockCount: Int = 8) {
        hasher = Hasher(algorithm)
        self.inlineLimit = inlineLimit
        blocks = (0..<blockCount).map { _ in .allocate(byteCount: blockSize, alignment: 64) }
        lengths = Array(repeating: 0, count: blockCount)
    }

    deinit {
        for block in blocks { block.deallocate() }
    }

    /// Registers a regular file whose `size` contents bytes are the next bytes fed (so call it
    /// before they are); its key is `key(of:)` once they have been.
    func beginFile(executable: Bool, size: UInt64) -> FileRange? {
        var writer = NARWriter(sink: Hasher(.sha256))
        guard (try? writer.beginRegularFile(executable: executable, size: size)) != nil else { return nil }
        let range = FileRange(start: count, size: size, writer: writer)
        lock.withLock { ranges.append(range) }
        return range
    }

    func update(_ bytes: UnsafeRawBufferPointer) {
        count += UInt64(bytes.count)
        if thread == nil {
            if count <= inlineLimit {
                consume(bytes)
                return
            }
            // Past the limit: hash on the thread from now on (if one cannot start, stay inline).
            guard let started = try? SystemThread.start({ [self] in run() }) else {
                consume(bytes)
                return
            }
            thread = started
        }
        var done = 0
        while done < bytes.count {
            let block = blocks[tail]
            let n = min(block.count - fill, bytes.count - done)
            (block.baseAddress! + fill).copyMemory(from: bytes.baseAddress! + done, byteCount: n)
            fill += n
            done += n
            if fill == block.count { publish() }
        }
    }

    /// Hashes `bytes`, the stream's next bytes, into the NAR digest and the ranges they cover.
    private func consume(_ bytes: UnsafeRawBufferPointer) {
        hasher.update(bytes)
        let from = hashedOffset
        let to = from + UInt64(bytes.count)
        hashedOffset = to
        let pending = lock.withLock { ranges }
        var finished = 0
        for range in pending {
            if range.start >= to { break }
            let lower = max(from, range.start + range.fed)
            let upper = min(to, range.start + range.size)
            if lower < upper {
                let piece = UnsafeRawBufferPointer(rebasing: bytes[Int(lower - from)..<Int(upper - from)])
                if (try? range.writer?.contents(piece)) == nil { range.writer = nil }
                range.fed += upper - lower
            }
            if range.fed == range.size {
                if var writer = range.writer, (try? writer.endRegularFile()) != nil { range.key = writer.sink.finish() }
                range.writer = nil
                finished += 1
            } else {
                break
            }
        }
        if finished > 0 {
            lock.withLock {
                for range in ranges.prefix(finished) { range.done = true }
                ranges.removeFirst(finished)
                lock.broadcast()
            }
        }
    }

    /// Hands the block being filled to the thread and waits for a free one.
    private func publish() {
        lock.lock()
        lengths[tail] = fill
        queued += 1
        lock.broadcast()
        while queued == blocks.count { lock.wait() }
        lock.unlock()
        tail = (tail + 1) % blocks.count
        fill = 0
    }

    private func run() {
        while true {
            lock.lock()
            while queued == 0 && !closing { lock.wait() }
            if queued == 0 {
                lock.unlock()
                return
            }
            let index = head
            let length = lengths[index]
            lock.unlock()
            consume(UnsafeRawBufferPointer(rebasing: blocks[index][0..<length]))
            lock.lock()
            head = (head + 1) % blocks.count
            queued -= 1
            lock.broadcast()
            lock.unlock()
        }
    }

    /// The key of a range whose bytes have all been fed (waits for the thread to hash them).
    func key(of range: FileRange) -> Hash? {
        if thread != nil && fill > 0 && !lock.withLock({ range.done }) { publish() }
        lock.lock()
        defer { lock.unlock() }
        while !range.done { lock.wait() }
        return range.key
    }

    /// The digest of everything fed so far.
    func finish() -> Hash {
        guard thread != nil else { return hasher.finish() }
        if fill > 0 { publish() }
        lock.lock()
        while queued > 0 { lock.wait() }
        lock.unlock()
        return hasher.finish()
    }

    /// Ends the hashing thread (after `finish`, or to abandon the stream).
    func stop() {
        guard let running = thread else { return }
        lock.lock()
        closing = true
        lock.broadcast()
        lock.unlock()
        running.join()
        thread = nil
    }
}

/// Feeds every byte read from `base` to a `BackgroundHasher` (HashingSource's overlapped twin).
struct BackgroundHashingSource<Base: NARByteSource>: NARByteSource {
    var base: Base
    let hasher: BackgroundHasher
    init(_ base: Base, hasher: BackgroundHasher) {
        self.base = base
        self.hasher = hasher
    }
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try base.read(into: buffer)
        hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        return n
    }
}
