/// CollectGarbage, VerifyStore and OptimiseStore, with the progress Nix 2.8's daemon reports to
/// Nix clients (gc.cc, local-store.cc verifyStore, optimise-store.cc): the `finding garbage
/// collector roots...` family of lines, one `deleting '<path>'` per deleted entry, verify's
/// phase lines, and optimise's activity with per-path progress — each at Nix's level (all
/// printInfo), filtered by the session's log. Guix clients get guix-daemon's verify lines and
/// levels; its GC lines are not sent (their per-path `[N MiB] deleting` needs the bytes freed
/// so far, which the collector's deletion pool does not report path by path).
import StoreFormats
import WorkerProtocol
import LocalStore
import LinuxSystem

extension LocalStoreService {
    /// CollectGarbage: a `maxFreed` of 0 means no limit (old Nix and Guix clients send 0 or
    /// 2^63-1 for "all").
    public func collectGarbage(_ request: GCRequest) throws -> GCResult {
        let action: GCOptions.Action
        switch request.action {
        case .returnLive: action = .returnLive
        case .returnDead: action = .returnDead
        case .deleteDead: action = .deleteDead
        case .deleteSpecific: action = .deleteSpecific(request.paths)
        }
        let log = isNix ? activityLog : nil
        try log?.log(.info, "finding garbage collector roots...")
        let result = try store.collectGarbage(GCOptions(action: action, maxFreed: request.maxFreed == 0 ? .max : request.maxFreed))
        if let log {
            switch request.action {
            case .deleteSpecific: break
            case .deleteDead: try log.log(.info, "deleting garbage...")
            case .returnLive, .returnDead: try log.log(.info, "determining live/dead paths...")
            }
            if request.action == .deleteDead || request.action == .deleteSpecific {
                for path in result.paths { try log.log(.info, "deleting '\(path)'") }
                try log.log(.info, "deleting unused links...")
                try log.log(.info, "note: currently hard linking saves \(Self.mebibytes(linkSavings())) MiB")
            }
        }
        // Both daemons keep the result in a sorted set (PathSet / StorePathSet).
        return GCResult(paths: Array(Set(result.paths)).sorted(), bytesFreed: result.bytesFreed)
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
