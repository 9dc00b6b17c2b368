import WorkerProtocol
import LinuxSystem

/// A connected socket as the worker protocol's `ByteStream`.
final class SocketStream: ByteSource, ByteSink {
    let descriptor: FileDescriptor
    init(_ descriptor: FileDescriptor) { self.descriptor = descriptor }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(WorkerProtocolError) -> Int {
        do { return try descriptor.read(into: buffer) } catch {
            throw .transport(operation: "read from client", errno: error.errno.rawValue)
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(WorkerProtocolError) {
        do { try Socket.send(descriptor, bytes) } catch {
            throw .transport(operation: "write to client", errno: error.errno.rawValue)
        }
    }
}
