/// Array's `withUnsafe…Bytes` are `rethrows` (untyped); these keep the codec's typed
/// `throws(WorkerProtocolError)` across the closure.
@inline(__always)
func withBytes<R>(_ array: [UInt8], _ body: (UnsafeRawBufferPointer) throws(WorkerProtocolError) -> R) throws(WorkerProtocolError) -> R {
    let result = array.withUnsafeBytes { raw in Result { () throws(WorkerProtocolError) -> R in try body(raw) } }
    return try result.get()
}

@inline(__always)
func withMutableBytes<R>(_ array: inout [UInt8], _ body: (UnsafeMutableRawBufferPointer) throws(WorkerProtocolError) -> R) throws(WorkerProtocolError) -> R {
    let result = array.withUnsafeMutableBytes { raw in Result { () throws(WorkerProtocolError) -> R in try body(raw) } }
    return try result.get()
}
