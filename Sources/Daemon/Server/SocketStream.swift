import WorkerProtocol
import LinuxSystem

/// A connected socket as the worker protocol's `ByteStream`. With `burst`, lookups a client
/// fires back to back run with fast CPU wake-ups (LookupBurst); otherwise, with `polling`, a
/// read that follows a write (the next request after a reply) may first poll the socket for a
/// moment (ReplyPolling) before blocking. At most one of the two is set.
final class SocketStream: ByteSource, ByteSink {
    let descriptor: FileDescriptor
    let polling: ReplyPolling?
    let burst: LookupBurst?

    init(_ descriptor: FileDescriptor, polling: ReplyPolling? = nil, burst: LookupBurst? = nil) {
        self.descriptor = descriptor
        self.polling = burst == nil ? polling : nil
        self.burst = burst
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(WorkerProtocolError) -> Int {
        do {
            if let burst {
                while true {
                    if let n = try Socket.receive(descriptor, into: buffer) {
                        burst.received()
                        return n
                    }
                    burst.silent(descriptor)
                }
            }
            if let polling {
                let descriptor = self.descriptor
                if let n = try polling.readAfterReply({ () throws(SystemError) in try Socket.receiveIfReady(descriptor, into: buffer) }) {
                    return n
                }
                let n = try descriptor.read(into: buffer)
                polling.blockingReadReturned()
                return n
            }
            return try descriptor.read(into: buffer)
        } catch {
            throw .transport(operation: "read from client", errno: error.errno.rawValue)
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(WorkerProtocolError) {
        do { try Socket.send(descriptor, bytes) } catch {
            throw .transport(operation: "write to client", errno: error.errno.rawValue)
        }
        polling?.replied()
        burst?.replied()
    }

    /// The session decoded its next operation.
    func operationStarts(_ op: Opcode) {
        burst?.operationStarts(lookup: op.isLookup, socket: descriptor)
    }
}
