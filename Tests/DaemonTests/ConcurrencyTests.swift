import Testing
import Foundation
import Glibc
import StoreFormats
import WorkerProtocol

/// Many clients at once against the daemon process, for a minute (CLOISTER_CONCURRENCY_SECONDS):
/// no error, no deadlock; a client sending garbage and one vanishing mid-NAR leave the others
/// and the store unharmed.
@Suite(.serialized, .tags(.large)) final class ConcurrencyTests: @unchecked Sendable {
    var root: String { scratch.root }
    let scratch: TemporaryDaemon
    var daemon: Process { scratch.process }
    let store: StoreDirectory

    init() throws {
        scratch = try TemporaryDaemon(label: "conc")
        store = try StoreDirectory(scratch.root + "/store")
    }

    func connect() throws -> (WorkerClient, SocketFD) {
        let fd = try SocketFD(connectingTo: root + "/sock")
        return (try WorkerClient(stream: fd, storeDirectory: store, options: .nixDefault()), fd)
    }

    /// How long the 64 clients keep adding and querying (the issue says a minute).
    static var seconds: Double { Double(ProcessInfo.processInfo.environment["CLOISTER_CONCURRENCY_SECONDS"] ?? "") ?? 60 }

    @Test func sixtyFourClientsWithAHostileOne() throws {
        final class Shared: @unchecked Sendable { var failures: [String] = []; var added = 0; let lock = NSLock() }
        let shared = Shared()
        let group = DispatchGroup()
        // A client that sends garbage, and one that disconnects in the middle of a NAR.
        DispatchQueue.global().async(group: group) {
            guard let fd = try? SocketFD(connectingTo: self.root + "/sock") else { return }
            try? fd.write(Array(repeating: 0xAB, count: 4096))
        }
        DispatchQueue.global().async(group: group) {
            guard let (c, _) = try? self.connect() else { return }
            try? WorkerRequest.addToStoreLegacy(name: "half", fixed: true, recursive: true, algorithm: "sha256").encode(to: c.writer, c.negotiated, c.context)
            try? c.writer.writeRaw(Array(NarEncoding.regularFile(Array(repeating: 1, count: 100_000)).prefix(50_000)))
            try? c.writer.flush()
        }
        let deadline = Date().addingTimeInterval(Self.seconds)
        for i in 0..<64 {
            DispatchQueue.global().async(group: group) {
                var added = 0
                do {
                    let (c, _) = try self.connect()
                    // At least ten items each, then on until the deadline.
                    while added < 10 || Date() < deadline {
                        let p = try c.addTextToStore(name: "c\(i)-\(added)", text: Array("client \(i) item \(added)".utf8))
                        added += 1
                        guard try c.isValidPath(p), try c.queryPathInfo(p) != nil else { throw WorkerProtocolError.remote(message: "lost \(p)", status: 1) }
                        // Everyone also adds the same shared object.
                        _ = try c.addToStore(name: "shared", method: .fixed(.recursive, .sha256), nar: NarEncoding.regularFile(Array("same".utf8)))
                    }
                } catch {
                    shared.lock.lock(); shared.failures.append("client \(i): \(error)"); shared.lock.unlock()
                }
                shared.lock.lock(); shared.added += added; shared.lock.unlock()
            }
        }
        #expect(group.wait(timeout: .now() + Self.seconds + 120) == .success, "deadlock: clients did not finish")
        #expect(shared.failures.isEmpty, "\(shared.failures.prefix(5))")
        // The store is intact: every path is there and no half-added object is registered.
        let (c, _) = try connect()
        let all = try c.strings(.queryAllValidPaths)
        #expect(all.count == shared.added + 1)
        #expect(shared.added >= 64 * 10)
        #expect(!all.contains { $0.hasSuffix("-half") })
        #expect(try c.call(.verifyStore(checkContents: true, repair: false)) == .int(0))
    }
}

extension ConcurrencyTests {
    /// Each connection is its own process: killing one session's worker outright (as a crash
    /// would) leaves the daemon and the other sessions serving.
    @Test func aCrashedSessionLeavesTheOthers() throws {
        let (a, _) = try connect()
        _ = try a.addTextToStore(name: "a", text: [1])
        // The daemon's children are the session workers; kill them outright, as a crash would.
        let pid = daemon.processIdentifier
        let children = (try String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8))
            .split(separator: " ").compactMap { Int32($0) }
        #expect(!children.isEmpty, "sessions run in their own processes")
        for child in children { kill(child, SIGKILL) }
        usleep(100_000)
        #expect(throws: WorkerProtocolError.self) { _ = try a.addTextToStore(name: "a2", text: [1]) }
        #expect(daemon.isRunning)
        let (b, _) = try connect()
        let p = try b.addTextToStore(name: "b", text: [2])
        #expect(try b.isValidPath(p))
    }
}

/// A connected Unix socket as a ByteStream (test side).
final class SocketFD: ByteSource, ByteSink, @unchecked Sendable {
    let fd: Int32
    init(connectingTo path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: path.utf8); raw[path.utf8.count] = 0 }
        let rc = withUnsafePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if rc != 0 { close(fd); throw WorkerProtocolError.transport(operation: "connect", errno: errno) }
    }
    deinit { close(fd) }
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
