/// The output lock files and log directories a request's builds will create, made ahead on one
/// thread while the first builds run. On ext4 without a journal each new inode is searched past
/// every inode deleted in the last minutes, which made these two creations cost a millisecond
/// or more per build of a long chain; made here they are off the chain's path (a machine has
/// a second CPU for it while a build's builder, or the client, waits).
///
/// Neither changes what anybody sees: an empty `P.lock` is what `PathLocks` creates itself
/// (and the Guix protocol lets anyone create one), an empty `drvs/XX` directory is what the
/// log file's creation makes. A file is never made once its build may have started: each
/// build claims its goal first (`claim`), waiting only if its files are being made right then;
/// so no lock file appears after its build deleted it.
import StoreFormats
import LocalStore
import LinuxSystem

final class FilesAhead: @unchecked Sendable {
    private enum State { case pending, making, made, claimed }

    private let lock = ConditionLock()
    // Guarded by `lock`.
    private var states: [StorePath: State] = [:]
    private let order: [StorePath]
    private let lockFiles: [StorePath: [String]]
    private let logDirectories: [StorePath: String]

    /// Goals in the order builds can run (inputs first).
    init(graph: GoalGraph, layout: StoreLayout, keepLog: Bool) {
        var waiting: [StorePath: Int] = [:]
        for (path, goal) in graph.goals { waiting[path] = goal.dependencies.count }
        var order = graph.initiallyReady()
        var index = 0
        while index < order.count {
            for dependent in (graph.goals[order[index]]?.dependents ?? []).sorted() {
                waiting[dependent, default: 0] -= 1
                if waiting[dependent] == 0 { order.append(dependent) }
            }
            index += 1
        }
        self.order = order
        var lockFiles: [StorePath: [String]] = [:]
        var logDirectories: [StorePath: String] = [:]
        for (path, goal) in graph.goals {
            lockFiles[path] = goal.derivation.outputs.values.compactMap(\.path).map { layout.absolute($0) + ".lock" }
            if keepLog {
                let base = BuildLogFile.basePath(logDirectory: layout.logDirectory, drvPath: path)
                logDirectories[path] = String(base[..<(base.lastIndex(of: "/") ?? base.endIndex)])
            }
            states[path] = .pending
        }
        self.lockFiles = lockFiles
        self.logDirectories = logDirectories
    }

    /// Starts the thread (nothing to gain with fewer than two goals).
    func start() {
        guard order.count > 1 else { return }
        _ = try? SystemThread.start { [self] in
            // Only on a CPU no build wants: on a busy machine it would slow the builds it serves.
            SystemThread.runOnlyWhenIdle()
            self.makeAll()
        }
    }

    /// Before `drvPath`'s build touches its lock files or log: from now on nothing is made for
    /// it here; waits if its files are being made at this moment.
    func claim(_ drvPath: StorePath) {
        lock.withLock {
            while states[drvPath] == .making { lock.wait() }
            states[drvPath] = .claimed
        }
    }

    /// After the last build: stops the thread and removes the lock files made for goals that
    /// never ran (the way their holder would: locked, unlinked, marked stale; any held
    /// elsewhere is left alone).
    func finish() {
        let unused = lock.withLock { () -> [StorePath] in
            for path in order where states[path] == .pending { states[path] = .claimed }
            while states.values.contains(.making) { lock.wait() }
            return order.filter { states[$0] == .made }
        }
        for path in unused {
            guard let files = lockFiles[path], !files.isEmpty,
                  let locks = try? PathLocks.lock(files.map { String($0.dropLast(5)) }, wait: false) else { continue }
            locks.deleteOnRelease = true
            locks.release()
        }
    }

    /// Makes the files of every goal not claimed yet, in build order (the thread's work).
    func makeAll() {
        for path in order {
            let mine = lock.withLock { () -> Bool in
                guard states[path] == .pending else { return false }
                states[path] = .making
                return true
            }
            guard mine else { continue }
            if let directory = logDirectories[path] { try? HostPath.makeDirectories(directory) }
            for file in lockFiles[path] ?? [] {
                try? FileDescriptor.open(file, [.readWrite, .create, .noFollow], mode: 0o600).close()
            }
            lock.withLock {
                states[path] = .made
                lock.broadcast()
            }
        }
    }
}
