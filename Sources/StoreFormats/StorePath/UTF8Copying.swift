/// Copying strings' UTF-8 into buffers being filled (store path texts, fingerprints, content
/// addresses: built per path-info query). A plain function over a moving pointer: a nested
/// function that captures a mutable local makes every use of that local a dynamically checked
/// exclusive access, which cost more than the copying itself.
extension UnsafeMutablePointer where Pointee == UInt8 {
    /// Copies `text`'s UTF-8 here (uninitialized memory) and returns the position after it.
    @inline(__always)
    func copying(_ text: String) -> UnsafeMutablePointer<UInt8> {
        let end = text.utf8.withContiguousStorageIfAvailable { bytes -> UnsafeMutablePointer<UInt8> in
            if let base = bytes.baseAddress { initialize(from: base, count: bytes.count) }
            return self + bytes.count
        }
        if let end { return end }
        var at = self
        for byte in text.utf8 {
            at.initialize(to: byte)
            at += 1
        }
        return at
    }

    /// Stores `byte` here and returns the next position.
    @inline(__always)
    func copying(_ byte: UInt8) -> UnsafeMutablePointer<UInt8> {
        initialize(to: byte)
        return self + 1
    }
}
