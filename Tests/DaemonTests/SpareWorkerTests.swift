import Testing
import Foundation
import Glibc
import StoreFormats
import WorkerProtocol

/// The daemon's default mode hands each accepted connection to a pre-spawned worker process
/// (SCM_RIGHTS over a socketpair) and starts a replacement. These tests hold it to the same
/// promises as a worker started per connection: every session in a process of its own, a dead
/// worker (idle or mid-session) never takes the daemon down, and trust is decided for each
/// connection from the client socket's SO_PEERCRED, not from whoever the spare was made for.
@Suite(.serialized, .tags(.large)) final class SpareWorkerTests: @unchecked Sendable {
    let scratch: TemporaryDaemon
    let store: StoreDirectory
    var socket: String { scratch.socket }

    init() throws {
        scratch = try TemporaryDaemon(label: "spare")
        store = try StoreDirectory(scratch.root + "/store")
    }

    func connect() throws -> (WorkerClient, SocketFD) {
        let fd = try SocketFD(connectingTo: socket)
        return (try WorkerClient(stream: fd, storeDirectory: store, options: .nixDefault()), fd)
    }

    /// The daemon's live child processes (session workers and idle spares).
    func children() -> [Int32] {
        let pid = scratch.process.processIdentifier
        let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
        return text.split(separator: " ").compactMap { Int32($0) }
    }

    /// The pid of the process whose temp roots hold `path` (adding a path makes it a temp root
    /// of the adding process: `temproots/<pid>`).
    func workerPID(holding path: StorePath) throws -> Int32 {
        let dir = scratch.root + "/var/temproots"
        let needle = Data((store.path + "/" + path.baseName).utf8)
        var found: [Int32] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) {
            guard let data = FileManager.default.contents(atPath: dir + "/" + name), data.range(of: needle) != nil,
                  let pid = Int32(name.split(separator: "-").first ?? "") else { continue }
            found.append(pid)
        }
        return try #require(found.count == 1 ? found.first : nil, "one temp-roots file holds \(path.baseName): \(found)")
    }

    @Test func manySequentialAndConcurrentConnections() throws {
        // One after another, faster than spares can be replaced at first.
        for i in 0..<24 {
            let (c, _) = try connect()
            let p = try c.addTextToStore(name: "seq-\(i)", text: Array("sequential \(i)".utf8))
            let info = try #require(try c.queryPathInfo(p))
            #expect(info.path == p && info.narSize > 0)
        }
        // Twelve at once, all open together: each is served by a different process, not the daemon.
        final class Shared: @unchecked Sendable {
            var pids: [Int32] = []
            var failures: [String] = []
            let lock = NSLock()
        }
        let shared = Shared()
        let group = DispatchGroup()
        let allMarked = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let n = 12
        for i in 0..<n {
            DispatchQueue.global().async(group: group) {
                do {
                    let (c, _) = try self.connect()
                    let p = try c.addTextToStore(name: "con-\(i)", text: Array("concurrent \(i)".utf8))
                    let pid = try self.workerPID(holding: p)
                    shared.lock.lock(); shared.pids.append(pid); shared.lock.unlock()
                    guard try c.queryPathInfo(p)?.path == p else { throw WorkerProtocolError.remote(message: "lost \(p)", status: 1) }
                    allMarked.signal()
                    release.wait()
                    guard try c.isValidPath(p) else { throw WorkerProtocolError.remote(message: "invalid \(p)", status: 1) }
                } catch {
                    shared.lock.lock(); shared.failures.append("client \(i): \(error)"); shared.lock.unlock()
                    allMarked.signal()
                }
            }
        }
        for _ in 0..<n { #expect(allMarked.wait(timeout: .now() + 60) == .success) }
        let pids = Set(shared.pids)
        #expect(pids.count == n, "each session in a process of its own: \(shared.pids.sorted())")
        #expect(!pids.contains(scratch.process.processIdentifier))
        #expect(pids.isSubset(of: Set(children())), "sessions run in children of the daemon")
        for _ in 0..<n { release.signal() }
        #expect(group.wait(timeout: .now() + 60) == .success)
        #expect(shared.failures.isEmpty, "\(shared.failures.prefix(3))")
        let (c, _) = try connect()
        #expect(try c.strings(.queryAllValidPaths).count == 24 + n)
    }

    /// Spares are made ahead of demand, so they start in SCHED_IDLE (a root daemon can lift them
    /// again); the one that gets a connection serves it under the normal policy.
    @Test(.enabled(if: geteuid() == 0)) func sparesStartIdleAndSessionsRunNormally() throws {
        let idle: Int32 = 5
        let deadline = Date().addingTimeInterval(10)
        var spares: [Int32] = []
        while Date() < deadline {
            spares = children()
            if spares.count >= 2 && spares.allSatisfy({ sched_getscheduler($0) == idle }) { break }
            usleep(20_000)
        }
        #expect(spares.count >= 2)
        #expect(spares.allSatisfy { sched_getscheduler($0) == idle }, "policies: \(spares.map { sched_getscheduler($0) })")
        let (c, _) = try connect()
        let p = try c.addTextToStore(name: "policy", text: Array("normal".utf8))
        let worker = try workerPID(holding: p)
        #expect(spares.contains(worker))
        #expect(sched_getscheduler(worker) == SCHED_OTHER)
        #expect(try c.isValidPath(p))
    }

    @Test func aKilledWorkerLeavesTheDaemonServing() throws {
        let (a, _) = try connect()
        let p = try a.addTextToStore(name: "a", text: [1])
        let worker = try workerPID(holding: p)
        let (b, _) = try connect()
        let pb = try b.addTextToStore(name: "b", text: [2])
        kill(worker, SIGKILL)
        usleep(100_000)
        #expect(throws: WorkerProtocolError.self) { _ = try a.addTextToStore(name: "a2", text: [1]) }
        #expect(scratch.process.isRunning)
        // The other session is untouched.
        #expect(try b.isValidPath(p))
        // Idle spares die too (every child but b's worker): new connections are still served.
        let bWorker = try workerPID(holding: pb)
        #expect(bWorker != worker)
        for child in children() where child != bWorker { kill(child, SIGKILL) }
        for i in 0..<10 {
            let (c, _) = try connect()
            let q = try c.addTextToStore(name: "after-\(i)", text: Array("after \(i)".utf8))
            #expect(try c.isValidPath(q))
        }
        #expect(scratch.process.isRunning)
    }

    /// Root and an ordinary user take turns on the same pool of spares; each connection gets the
    /// trust of its own peer (a repair is refused to the ordinary user only).
    @Test(.enabled(if: geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/nix-store")
                   && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")))
    func trustIsDecidedPerConnection() throws {
        let home = scratch.root + "/nobody-home"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        chown(home, 65534, 65534)
        for round in 0..<3 {
            let (c, _) = try connect()
            #expect(try c.call(.verifyStore(checkContents: false, repair: true)) == .int(0), "root, round \(round)")
            let (status, err) = try asNobody(["nix-store", "--verify", "--repair"], home: home)
            #expect(status != 0 && err.contains("not privileged to repair"), "nobody, round \(round): \(status) \(err)")
            let (rootStatus, rootErr) = try run(["nix-store", "--verify", "--repair"], home: home)
            #expect(rootStatus == 0, "root through nix-store, round \(round): \(rootErr)")
        }
    }

    func asNobody(_ arguments: [String], home: String) throws -> (Int32, String) {
        try run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + arguments, home: home)
    }

    func run(_ arguments: [String], home: String) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = arguments
        p.environment = scratch.clientEnvironment(home: home)
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        let data = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
