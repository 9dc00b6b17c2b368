import WorkerProtocol
import LinuxSystem

/// A connected socket as the worker protocol's `ByteStream`. With `polling`, a read that
/// follows a write (the next request after a reply) may first poll the socket for a moment
/// (ReplyPolling) before blocking.
final class SocketStream: ByteSource, ByteSink {
    let descriptor: FileDescriptor
    let polling: ReplyPolling?

    init(_ descriptor: FileDescriptor, polling: ReplyPolling? = nil) {
        self.descriptor = descriptor
        self.polling = polling
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(WorkerProtocolError) -> Int {
        do {
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
    }
}
