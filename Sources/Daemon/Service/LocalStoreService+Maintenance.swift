/// CollectGarbage, VerifyStore and OptimiseStore, with the progress each daemon reports to its
/// clients. Nix 2.8 (gc.cc, local-store.cc verifyStore, optimise-store.cc): the `finding garbage
/// collector roots...` family of lines, one `deleting '<path>'` per deleted entry, verify's
/// phase lines, and optimise's activity with per-path progress — all printInfo. guix-daemon
/// (gc.cc): the phase lines at lvlError, and per deleted entry `[N MiB] deleting '<path>'` (or
/// `[P%]` of an explicit `maxFreed`) at lvlInfo, counting what was freed before it as it does
/// (GCResults.freedBefore), then the trash and `.links` lines; its verify lines and levels.
/// Every line is filtered by the session's log. The lines follow the collection rather than
/// accompany it (the client sees the same sequence before the reply).
import StoreFormats
import WorkerProtocol
import LocalStore
import LinuxSystem

extension LocalStoreService {
    /// CollectGarbage, with `maxFreed` read by `byteLimit`.
    public func collectGarbage(_ request: GCRequest) throws -> GCResult {
        let action: GCOptions.Action
        switch request.action {
        case .returnLive: action = .returnLive
        case .returnDead: action = .returnDead
        case .deleteDead: action = .deleteDead
        case .deleteSpecific: action = .deleteSpecific(request.paths)
        }
        let maxFreed = Self.byteLimit(request.maxFreed)
        // Both daemons say this at once, before the roots are searched.
        try activityLog?.log(isNix ? .info : .error, "finding garbage collector roots...")
        let result = try store.collectGarbage(GCOptions(action: action, maxFreed: maxFreed))
        if let log = activityLog { try report(result, request.action, maxFreed: maxFreed, log) }
        // Both daemons keep the result in a sorted set (PathSet / StorePathSet); Nix 2.8 counts
        // a named path with nothing behind it as deleted.
        let paths = isNix ? result.paths + result.absent : result.paths
        return GCResult(paths: Array(Set(paths)).sorted(), bytesFreed: result.bytesFreed)
    }

    /// The request's `maxFreed` as a limit: 0 (old Nix clients) and anything from 2^63 - 1 up
    /// (Guix's `%long-long-max` default, Nix's 2^64 - 1) mean none.
    static func byteLimit(_ requested: UInt64) -> UInt64 {
        requested == 0 || requested >= UInt64(Int64.max) ? .max : requested
    }

    /// The rest of the collection's lines: Nix 2.8 gc.cc says all at info; guix-daemon gc.cc
    /// (collectGarbage, deletePathRecursive, removeUnusedLinks) says the phases at lvlError,
    /// each deletion with its progress, the limit and the trash at lvlInfo.
    private func report(_ result: GCResults, _ action: GCRequest.Action, maxFreed: UInt64, _ log: ActivityLog) throws {
        let phase: Verbosity = isNix ? .info : .error
        switch action {
        case .deleteSpecific: break
        case .deleteDead: try log.log(phase, "deleting garbage...")
        case .returnLive, .returnDead: try log.log(phase, "determining live/dead paths...")
        }
        guard action == .deleteDead || action == .deleteSpecific else { return }
        if isNix {
            for path in result.paths + result.absent { try log.log(.info, "deleting '\(path)'") }
        } else {
            for (path, freed) in zip(result.paths, result.freedBefore) {
                try log.log(.info, "[\(Self.guixProgress(freed: freed, maxFreed: maxFreed))] deleting '\(path)'")
            }
            if result.stoppedAtLimit { try log.log(.info, "deleted or invalidated more than \(maxFreed) bytes; stopping") }
            try log.log(.info, "deleting `\(store.layout.storePath)/trash'")
        }
        try log.log(phase, "deleting unused links...")
        try log.log(.info, "note: currently hard linking saves \(Self.mebibytes(linkSavings())) MiB")
    }

    /// `N MiB` freed so far (whole MiB, rounded down), or `P%` of an explicit limit (capped at
    /// 100, rounded down).
    static func guixProgress(freed: UInt64, maxFreed: UInt64) -> String {
        guard maxFreed != .max else { return "\(freed / (1024 * 1024)) MiB" }
        return "\(Int(min(Double(freed) / Double(maxFreed), 1) * 100))%"
    }

    /// gc.cc: what the `.links` entries still shared save, less the directory's own blocks.
    func linkSavings() -> Double {
        let directory = store.layout.linksDirectory
        guard let links = try? FileDescriptor.currentDirectory.openDirectory(at: directory) else { return 0 }
        var actual: Int64 = 0, unshared: Int64 = 0
        for name in (try? links.entryNames()) ?? [] {
            guard let status = try? links.status(at: name), status.linkCount != 1 else { continue }
            actual += status.size
            unshared += Int64(status.linkCount - 1) * status.size
        }
        let overhead = ((try? links.status().blocks) ?? 0) * 512
        return Double(unshared - actual - overhead) / (1024 * 1024)
    }

    /// `%.2f` of a MiB count, rounded half to even as printf does on exact binary values.
    static func mebibytes(_ value: Double) -> String {
        let hundredths = (abs(value) * 100).rounded(.toNearestOrEven)
        let whole = Int(hundredths) / 100, fraction = Int(hundredths) % 100
        return (value < 0 || (value == 0 && value.sign == .minus) ? "-" : "") + "\(whole)." + (fraction < 10 ? "0" : "") + "\(fraction)"
    }

    /// VerifyStore: findings go to the client as messages, after the phase line they belong to
    /// (each daemon's words and levels); errors remain when contents differ from the database
    /// (repair fixes metadata, never blesses modified contents).
    public func verifyStore(checkContents: Bool, repair: Bool, log: ActivityLog) throws -> Bool {
        let result = try store.verifyStore(checkContents: checkContents, repair: repair)
        let style = log.dialect.messageStyle
        func report(_ problems: [VerifyProblem]) throws {
            for problem in problems { try log.log(Self.level(of: problem, log.dialect), problem.message(style)) }
        }
        // guix-daemon: "reading the store..." at lvlError, the rest at lvlInfo; Nix: all info.
        try log.log(isNix ? .info : .error, isNix ? "reading the Nix store..." : "reading the store...")
        try log.log(.info, "checking path existence...")
        try report(result.problems.filter(\.isExistenceProblem))
        if checkContents {
            if isNix { try log.log(.info, "checking link hashes...") }
            try log.log(.info, isNix ? "checking store hashes..." : "checking hashes...")
        }
        try report(result.problems.filter { !$0.isExistenceProblem })
        return !result.modifiedPaths.isEmpty
    }

    /// guix-daemon says every finding at lvlError; Nix 2.8 says a path it could invalidate (and
    /// what was put right) at info, the rest as errors.
    static func level(of problem: VerifyProblem, _ dialect: Dialect) -> Verbosity {
        switch problem {
        case .disappeared, .repairedMetadata: dialect == .nix ? .info : .error
        case .disappearedWithReferrers, .unreadable, .modified: .error
        }
    }

    /// OptimiseStore: for Nix clients, an optimiseStore activity with progress over the valid
    /// paths (in store-path order), a talkative activity per path, then the total.
    public func optimiseStore(log activities: ActivityLog) throws {
        guard isNix else { _ = try store.optimiseStore(); return }
        var total = OptimiseStatistics()
        try activities.within(.optimiseStore) { id in
            let paths = try store.queryAllValidPaths().sorted { $0.baseName < $1.baseName }
            try activities.progress(id, done: 0, expected: UInt64(paths.count))
            for (index, path) in paths.enumerated() {
                try activities.within(.unknown, level: .talkative, text: "optimising path '\(context.render(path))'") { _ in
                    if let s = try store.optimiseValidPath(path) {
                        total.filesLinked += s.filesLinked
                        total.bytesFreed += s.bytesFreed
                    }
                }
                try activities.progress(id, done: UInt64(index + 1), expected: UInt64(paths.count))
            }
        }
        try activities.log(.info, "\(Self.mebibytes(Double(total.bytesFreed) / (1024 * 1024))) MiB freed by hard-linking \(total.filesLinked) files")
    }
}
