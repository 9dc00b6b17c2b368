/// The attacker of SEC-10 and SEC-27: a thread holding a directory fd inside a tree the store
/// is deleting or canonicalising (as a builder could through a smuggled fd), swapping entries of
/// that directory with symlinks to a victim outside the store by renameat2(RENAME_EXCHANGE),
/// as fast as it can, for the whole of each round. And the victim: a small tree whose every
/// node's identity, owner, mode and mtime are recorded and compared after each round.
import Glibc
import Synchronization
import LinuxSystem
import CSandbox

final class SymlinkRacer: Sendable {
    /// The round being raced and the directory to race in (a duplicate the racer owns).
    private let slot = Mutex<(round: Int, directory: FileDescriptor?)>((0, nil))
    private let endedRound = Atomic<Int>(0)
    private let finishedRound = Atomic<Int>(0)
    private let attempts = Atomic<Int>(0)
    /// Exchanges that succeeded, over all rounds.
    let swaps = Atomic<Int>(0)
    private let quit = Atomic<Bool>(false)
    /// Entry pairs to exchange, in turn.
    let pairs: [([UInt8], [UInt8])]
    private let thread = Mutex<SystemThread?>(nil)

    /// With `path`, the racer swaps `path/a` and `path/b` by name, continuously, whatever tree
    /// is there at the moment (no per-round hand-over: cheap rounds). Without, it races in
    /// the directory handed to `race(_:in:_:)` through a held fd (a smuggled fd: the tree may
    /// be renamed away, e.g. into the trash, and the racer still reaches it).
    init(pairs: [(String, String)], path: String? = nil) throws {
        if let path {
            self.pairs = pairs.map { (Array((path + "/" + $0.0).utf8) + [0], Array((path + "/" + $0.1).utf8) + [0]) }
        } else {
            self.pairs = pairs.map { (Array($0.0.utf8), Array($0.1.utf8)) }
        }
        let byPath = path != nil
        let started = try SystemThread.start { [self] in byPath ? self.runByPath() : self.run() }
        thread.withLock { $0 = started }
    }

    private func runByPath() {
        var i = 0
        while !quit.load(ordering: .relaxed) {
            let (a, b) = pairs[i % pairs.count]
            i += 1
            // The raw call: a failed swap (no tree at the moment) must cost one syscall only.
            let rc = a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    cloister_renameat2(AT_FDCWD, UnsafeRawPointer(pa.baseAddress!).assumingMemoryBound(to: CChar.self), AT_FDCWD,
                                       UnsafeRawPointer(pb.baseAddress!).assumingMemoryBound(to: CChar.self), cloister_rename_exchange())
                }
            }
            if rc == 0 { swaps.add(1, ordering: .relaxed) }
        }
    }

    private func run() {
        var last = 0
        while !quit.load(ordering: .acquiring) {
            let (round, directory) = slot.withLock { ($0.round, $0.directory) }
            guard round != last, let directory else { sched_yield(); continue }
            var i = 0
            while endedRound.load(ordering: .acquiring) < round {
                let (a, b) = pairs[i % pairs.count]
                i += 1
                attempts.add(1, ordering: .relaxed)
                if (try? directory.exchange(at: a, with: directory, b)) != nil { swaps.add(1, ordering: .relaxed) }
            }
            slot.withLock { if $0.round == round { $0.directory = nil } }
            last = round
            finishedRound.store(round, ordering: .releasing)
        }
    }

    /// Runs `body` while the racer swaps entries of `directory`; returns once the racer has let
    /// go of it.
    func race<T>(_ round: Int, in directory: FileDescriptor, _ body: () throws -> T) throws -> T {
        let copy = try directory.duplicate()
        let before = attempts.load(ordering: .relaxed)
        slot.withLock { $0 = (round, copy) }
        while attempts.load(ordering: .relaxed) == before { sched_yield() }
        defer {
            endedRound.store(round, ordering: .releasing)
            while finishedRound.load(ordering: .acquiring) < round { sched_yield() }
        }
        return try body()
    }

    func stop() {
        quit.store(true, ordering: .releasing)
        thread.withLock { $0?.join() }
    }
}

/// A directory outside the store that must come through every round untouched.
struct Victim {
    let path: String
    private(set) var snapshot: [String: [Int]] = [:]
    static let owner: UInt32 = geteuid() == 0 ? 4242 : geteuid()

    init(in directory: String) throws {
        path = directory + "/victim"
        let setup = """
            mkdir -p '\(path)/inner' && echo keep > '\(path)/keep1' && echo deep > '\(path)/inner/deep' && \
            chmod 0750 '\(path)' '\(path)/inner' && chmod 0640 '\(path)/keep1' '\(path)/inner/deep' && \
            touch -h -d @12345 '\(path)/keep1' '\(path)/inner/deep' '\(path)/inner' '\(path)' && \
            chown -R \(Victim.owner):\(Victim.owner) '\(path)' && echo ok
            """
        guard shell(setup) == "ok\n" else { throw TestFailure("victim setup failed") }
        snapshot = current()
    }

    var nodes: [String] { [path, path + "/keep1", path + "/inner", path + "/inner/deep"] }

    /// inode, mode, owner, group, link count, size, mtime of every node (empty if gone).
    func current() -> [String: [Int]] {
        var result: [String: [Int]] = [:]
        for node in nodes {
            var st = stat()
            guard lstat(node, &st) == 0 else { result[node] = []; continue }
            result[node] = [Int(st.st_ino), Int(st.st_mode), Int(st.st_uid), Int(st.st_gid), Int(st.st_nlink),
                            Int(st.st_size), st.st_mtim.tv_sec, st.st_mtim.tv_nsec]
        }
        return result
    }

    /// Nodes whose metadata changed since setup.
    func changes() -> [String] {
        let now = current()
        return nodes.filter { now[$0] != snapshot[$0] }
    }
}

extension FileDescriptor {
    /// Creates `name` here with `contents` (test trees).
    func writeFile(_ name: String, _ contents: String, mode: mode_t = 0o644) throws {
        let file = try open(at: Array(name.utf8), [.writeOnly, .create, .exclusive, .noFollow], mode: mode)
        try file.writeAll(Array(contents.utf8))
        try file.changeMode(mode)
        try file.close()
    }
}
