/// Runs a `GoalGraph` (guix-daemon.md §5) on threads: inputs before dependents, at most
/// `maxBuildJobs` builds at once (each on its own thread: builds block on pipes and pidfds),
/// output locks so that a derivation another thread or process is building is waited for and
/// then found valid, dependents of a failure fail with DependencyFailed, and without
/// keep-going no new build starts after the first failure.
import StoreFormats
import LocalStore
import LinuxSystem

final class Scheduler: @unchecked Sendable {
    private let store: SharedStore
    private let settings: BuildSettings
    private let events: EventChannel
    private let pool: BuildUserPool?
    private let cancellation: Cancellation
    private let lock = ConditionLock()
    // Guarded by `lock`.
    private var finished: [(StorePath, BuildResult)] = []
    private var running = 0

    init(store: SharedStore, settings: BuildSettings, events: EventChannel, pool: BuildUserPool?, cancellation: Cancellation) {
        self.cancellation = cancellation
        self.store = store
        self.settings = settings
        self.events = events
        self.pool = pool
    }

    /// Runs every goal; returns a result for each (DependencyFailed, or MiscFailure when
    /// stopped before starting, for those not run).
    func run(_ graph: GoalGraph) -> [StorePath: BuildResult] {
        var results: [StorePath: BuildResult] = [:]
        var waitingOn: [StorePath: Int] = [:]
        for (path, goal) in graph.goals { waitingOn[path] = goal.dependencies.count }
        var ready = graph.initiallyReady()
        var stopped = false
        var threads: [SystemThread] = []

        if settings.maxBuildJobs == 0 && !graph.goals.isEmpty {
            let message = "unable to start any build; either increase `--max-jobs' or enable distributed builds"
            for path in graph.goals.keys { results[path] = BuildResult(status: .miscFailure, errorMessage: message) }
            return results
        }

        let ahead = FilesAhead(graph: graph, layout: store.layout, keepLog: settings.keepLog)
        ahead.start()
        lock.lock()
        while true {
            if cancellation.isCancelled { stopped = true }
            while running < settings.maxBuildJobs, !stopped, !ready.isEmpty {
                let path = ready.removeFirst()
                guard let goal = graph.goals[path] else { continue }
                running += 1
                lock.unlock()
                let started = start(goal, ahead: ahead)
                lock.lock()
                if let started { threads.append(started) } else {
                    running -= 1
                    finished.append((path, BuildResult(status: .miscFailure, errorMessage: "cannot start a build thread")))
                }
            }
            if finished.isEmpty {
                if running == 0 { break }
                lock.wait()
                continue
            }
            let batch = finished
            finished.removeAll()
            for (path, result) in batch {
                results[path] = result
                if result.isSuccess {
                    for dependent in (graph.goals[path]?.dependents ?? []).sorted() {
                        waitingOn[dependent, default: 0] -= 1
                        if waitingOn[dependent] == 0 { ready.append(dependent) }
                    }
                } else {
                    if !settings.keepGoing { stopped = true }
                    failDependents(of: path, graph: graph, results: &results, cause: path)
                }
            }
        }
        lock.unlock()
        for thread in threads { thread.join() }
        ahead.finish()
        for path in graph.goals.keys where results[path] == nil {
            results[path] = BuildResult(status: .miscFailure, errorMessage: "build of `\(store.layout.absolute(path))' was not started")
        }
        return results
    }

    private func failDependents(of path: StorePath, graph: GoalGraph, results: inout [StorePath: BuildResult], cause: StorePath) {
        var pending = Array(graph.goals[path]?.dependents ?? [])
        while let dependent = pending.popLast() {
            guard results[dependent] == nil else { continue }
            let message = "dependency `\(store.layout.absolute(cause))' of `\(store.layout.absolute(dependent))' failed"
            results[dependent] = BuildResult(status: .dependencyFailed, errorMessage: message)
            pending += graph.goals[dependent]?.dependents ?? []
        }
    }

    private func start(_ goal: Goal, ahead: FilesAhead) -> SystemThread? {
        try? SystemThread.start { [self] in
            ahead.claim(goal.drvPath)
            let result = self.runGoal(goal)
            self.lock.withLock {
                self.finished.append((goal.drvPath, result))
                self.running -= 1
                self.lock.broadcast()
            }
        }
    }

    private func runGoal(_ goal: Goal) -> BuildResult {
        let timer = PhaseTimer()
        defer { timer.report(store.layout.absolute(goal.drvPath)) }
        let plan: BuildPlan
        do {
            let closure = try store.query { (s) throws -> Set<StorePath> in
                try BuildPlanner.inputClosure(of: goal.derivation, store: s)
            }
            timer.mark("closure")
            plan = try BuildPlanner.plan(derivationPath: goal.drvPath, derivation: goal.derivation, inputClosure: closure,
                                         store: store.layout.storeDirectory, settings: settings)
            timer.mark("plan")
        } catch {
            // A derivation whose outputs are all valid is done, whatever its builder: guix-daemon
            // and nix-daemon look at the outputs before the builder (haveDerivation).
            var outputs: [String: StorePath] = [:]
            for (name, output) in goal.derivation.outputs { if let path = output.path { outputs[name] = path } }
            if !goal.check, !outputs.isEmpty, outputs.count == goal.derivation.outputs.count,
               let valid = try? store.query({ try $0.queryValidPaths(Array(outputs.values)) }), valid.count == Set(outputs.values).count {
                return BuildResult(status: .alreadyValid, builtOutputs: outputs)
            }
            if case .buildFailed = error, !outputs.isEmpty {
                // guix-daemon and nix-daemon lock the outputs before these checks and unlock
                // without deleting on failure: the `.lock` files stay until a GC takes them.
                let absolutes = outputs.values.sorted().map { store.layout.absolute($0) }
                if let locks = try? PathLocks.lock(absolutes, wait: true) { locks.release() }
            }
            if settings.printBuildTrace {
                events.message("@ build-failed \(store.layout.absolute(goal.drvPath)) - 1 \(error.description)")
            }
            let status: BuildResult.Status = { if case .buildFailed = error { return .permanentFailure } else { return .miscFailure } }()
            return BuildResult(status: status, errorMessage: error.description)
        }
        return DerivationBuild(plan: plan, store: store, settings: settings, events: events, pool: pool,
                               check: goal.check, cancellation: cancellation, timer: timer).run()
    }
}
