import Foundation
import Glibc
import StoreFormats
@testable import WorkerProtocol

/// A file descriptor as a ByteStream (tests only; the daemon has its own over LinuxSystem).
final class FDStream: ByteSource, ByteSink {
    let fd: Int32
    init(_ fd: Int32) { self.fd = fd }
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(WorkerProtocolError) -> Int {
        let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
        if n < 0 { throw .transport(operation: "read", errno: errno) }
        return n
    }
    func write(_ bytes: UnsafeRawBufferPointer) throws(WorkerProtocolError) {
        var done = 0
        while done < bytes.count {
            let n = send(fd, bytes.baseAddress! + done, bytes.count - done, Int32(MSG_NOSIGNAL))
            if n < 0 { throw .transport(operation: "write", errno: errno) }
            done += n
        }
    }
}

/// Runs a ServerSession on a thread over a socketpair and hands the other end to `body`.
func withSession<R>(service: StoreService, client identity: ClientIdentity = ClientIdentity(trusted: true),
                    store: StoreDirectory = .nix, limits: WireLimits = .default,
                    _ body: (FDStream) throws -> R) throws -> (R, ServerSession.End) {
    var fds: [Int32] = [0, 0]
    guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else { throw WorkerProtocolError.transport(operation: "socketpair", errno: errno) }
    let serverFD = fds[0], clientFD = fds[1]
    let done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var end: ServerSession.End = .clientClosed
    nonisolated(unsafe) let unsafeService = service
    let thread = Thread {
        let session = ServerSession(stream: FDStream(serverFD), service: unsafeService, client: identity, storeDirectory: store, limits: limits)
        end = session.run()
        shutdown(serverFD, Int32(SHUT_RDWR))
        done.signal()
    }
    thread.start()
    defer { close(clientFD) }
    let result: R
    do { result = try body(FDStream(clientFD)) } catch {
        shutdown(clientFD, Int32(SHUT_RDWR)); done.wait(); close(serverFD); throw error
    }
    shutdown(clientFD, Int32(SHUT_WR))
    done.wait()
    close(serverFD)
    return (result, end)
}

/// NAR of a single regular file.
func narOfFile(_ text: String) -> [UInt8] { NarEncoding.regularFile(Array(text.utf8)) }
