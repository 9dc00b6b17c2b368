/// Finds where a NAR sent inline on the wire ends (old-style AddToStore, NarFromPath replies,
/// export streams), by following the grammar of formats.md §3.1 token by token:
///
///     nar   = "nix-archive-1" node
///     node  = "(" "type" ( "regular" ["executable" ""] "contents" STRING
///                        | "symlink" "target" STRING
///                        | "directory" { "entry" "(" "name" NAME "node" node ")" } ) ")"
///
/// It is a pull `ByteSource`: reading it yields the NAR's bytes exactly as they arrived and
/// returns 0 right after the NAR's last token, leaving the wire positioned on what follows.
/// File contents stream through without being held in memory. Limits: depth, name and target
/// lengths; names must be non-empty, free of `/` and NUL, not `.`/`..`, strictly increasing.
///
/// In `contentsOnly` mode it instead yields just the contents of a NAR that must be a single
/// regular file (what flat old-style AddToStore hashes), else "regular file expected".
public final class NarDelimiter: ByteSource {
    private enum State { case start, node, regular, contents, directory, afterNode, done }
    private enum Frame { case directory(lastName: [UInt8]?), entry }

    private let reader: WireReader
    private let contentsOnly: Bool
    private var state = State.start
    private var stack: [Frame] = []
    private var pending: [UInt8] = []
    private var pendingStart = 0
    private var contentsRemaining: UInt64 = 0
    private var contentsLength: UInt64 = 0
    public private(set) var isExecutable = false
    /// Bytes of NAR consumed from the wire so far.
    public private(set) var narSize: UInt64 = 0

    public init(_ reader: WireReader, contentsOnly: Bool = false) {
        self.reader = reader
        self.contentsOnly = contentsOnly
    }

    public var finished: Bool { state == .done && pendingStart == pending.count }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(WorkerProtocolError) -> Int {
        guard buffer.count > 0 else { return 0 }
        while true {
            if pendingStart < pending.count {
                let n = min(buffer.count, pending.count - pendingStart)
                pending.withUnsafeBytes { raw in
                    buffer.baseAddress!.copyMemory(from: raw.baseAddress! + pendingStart, byteCount: n)
                }
                pendingStart += n
                if pendingStart == pending.count { pending.removeAll(keepingCapacity: true); pendingStart = 0 }
                return n
            }
            if state == .contents && contentsRemaining > 0 {
                let want = Int(min(UInt64(buffer.count), contentsRemaining))
                let got = try reader.readSome(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]))
                if got == 0 { throw .endOfStream(offset: reader.offset, wanted: Int(clamping: contentsRemaining)) }
                contentsRemaining -= UInt64(got)
                narSize += UInt64(got)
                return got
            }
            if state == .done { return 0 }
            try step()
        }
    }

    /// Reads the rest of the NAR, discarding it.
    public func finish() throws(WorkerProtocolError) {
        if !finished { try drain() }
    }

    private func fail(_ reason: String) -> WorkerProtocolError {
        .invalidNAR(offset: reader.offset, reason: reason)
    }

    private func token(limit: UInt64) throws(WorkerProtocolError) -> [UInt8] {
        let bytes = try reader.readByteString("NAR token", limit: limit)
        let padded = (bytes.count + 7) / 8 * 8
        narSize += 8 + UInt64(padded)
        if !contentsOnly {
            withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { pending.append(contentsOf: $0) }
            pending.append(contentsOf: bytes)
            pending.append(contentsOf: repeatElement(0, count: padded - bytes.count))
        }
        return bytes
    }

    private func expect(_ word: String) throws(WorkerProtocolError) {
        let got = try token(limit: 64)
        guard got.elementsEqual(word.utf8) else {
            throw fail("expected '\(word)', got '\(String(decoding: got, as: UTF8.self))'")
        }
    }

    private func step() throws(WorkerProtocolError) {
        switch state {
        case .start:
            try expect("nix-archive-1")
            state = .node
        case .node:
            try expect("(")
            try expect("type")
            let type = try token(limit: 64)
            switch String(decoding: type, as: UTF8.self) {
            case "regular":
                state = .regular
            case "symlink" where !contentsOnly:
                try expect("target")
                let target = try token(limit: reader.limits.narName)
                guard !target.isEmpty, !target.contains(0) else { throw fail("invalid symlink target") }
                try expect(")")
                state = .afterNode
            case "directory" where !contentsOnly:
                let depth = stack.count / 2 + 1
                guard depth <= reader.limits.narDepth else { throw fail("directories nested deeper than \(reader.limits.narDepth)") }
                stack.append(.directory(lastName: nil))
                state = .directory
            case "symlink", "directory":
                throw fail("regular file expected")
            default:
                throw fail("unknown file type '\(String(decoding: type, as: UTF8.self))'")
            }
        case .regular:
            var word = try token(limit: 64)
            if word.elementsEqual("executable".utf8) {
                isExecutable = true
                try expect("")
                word = try token(limit: 64)
            }
            guard word.elementsEqual("contents".utf8) else { throw fail("expected 'contents'") }
            let length = try reader.readU64()
            narSize += 8
            if !contentsOnly { withUnsafeBytes(of: length.littleEndian) { pending.append(contentsOf: $0) } }
            contentsLength = length
            contentsRemaining = length
            state = .contents
        case .contents:
            // Contents fully passed through: padding, then the node's ")".
            try reader.readPadding(after: contentsLength)
            let pad = Int((8 - contentsLength % 8) % 8)
            narSize += UInt64(pad)
            if !contentsOnly { pending.append(contentsOf: repeatElement(0, count: pad)) }
            try expect(")")
            state = .afterNode
        case .directory:
            let word = try token(limit: 64)
            if word.elementsEqual(")".utf8) {
                stack.removeLast()
                state = .afterNode
                return
            }
            guard word.elementsEqual("entry".utf8) else { throw fail("expected 'entry' or ')'") }
            try expect("(")
            try expect("name")
            let name = try token(limit: reader.limits.narName)
            guard !name.isEmpty, !name.contains(0), !name.contains(UInt8(ascii: "/")),
                  !name.elementsEqual(".".utf8), !name.elementsEqual("..".utf8) else {
                throw fail("invalid entry name '\(String(decoding: name, as: UTF8.self))'")
            }
            guard case .directory(let last) = stack.last else { throw fail("entry outside a directory") }
            if let last, !last.lexicographicallyPrecedes(name) {
                throw fail("entry '\(String(decoding: name, as: UTF8.self))' is not in strictly increasing order")
            }
            stack[stack.count - 1] = .directory(lastName: name)
            try expect("node")
            stack.append(.entry)
            state = .node
        case .afterNode:
            guard let top = stack.last else { state = .done; return }
            guard case .entry = top else { throw fail("unbalanced NAR") }
            try expect(")")
            stack.removeLast()
            state = .directory
        case .done:
            return
        }
    }
}
