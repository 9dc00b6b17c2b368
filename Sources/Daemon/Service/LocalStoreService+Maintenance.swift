/// CollectGarbage, VerifyStore and OptimiseStore, with the progress each daemon reports to its
/// clients. Nix 2.8 (gc.cc, local-store.cc verifyStore, optimise-store.cc): the `finding garbage
/// collector roots...` family of lines, one `deleting '<path>'` per deleted entry, verify's
/// phase lines, and optimise's activity with per-path progress — all printInfo — and, for a
/// client at talkative (`-v`) or above, the per-item lines: `deleting unused link '…'`,
/// `checking contents of '…'` (each `.links` entry by name, each valid path), `loaded N hash
/// inodes` and `linking '<file>' to '<link>'`; what those need is gathered only for a client
/// that will see them. guix-daemon
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
        if isNix {
            for name in result.unusedLinks {
                try log.log(.talkative, "deleting unused link '\(store.layout.linksDirectory)/\(String(decoding: name, as: UTF8.self))'")
            }
        }
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
    /// (each daemon's words and levels), and for a Nix client at talkative each hashed `.links`
    /// entry and path as `checking contents of '…'` before its findings, where nix-daemon says
    /// it; errors remain when contents differ from the database or a link from its name
    /// (repair fixes metadata and drops bad links, never blesses modified contents).
    public func verifyStore(checkContents: Bool, repair: Bool, log: ActivityLog) throws -> Bool {
        let result = try store.verifyStore(checkContents: checkContents, repair: repair, checkLinks: isNix,
                                           recordChecks: isNix && log.includes(.talkative))
        let style = log.dialect.messageStyle
        var reported = 0
        /// The findings not yet said, up to the `end`th.
        func report(upTo end: Int) throws {
            while reported < end {
                let problem = result.problems[reported]
                try log.log(Self.level(of: problem, log.dialect), problem.message(style))
                reported += 1
            }
        }
        let existenceEnd = result.problems.prefix(while: \.isExistenceProblem).count
        let linksEnd = existenceEnd + result.problems[existenceEnd...].prefix(while: \.isLinkProblem).count
        // guix-daemon: "reading the store..." at lvlError, the rest at lvlInfo; Nix: all info.
        try log.log(isNix ? .info : .error, isNix ? "reading the Nix store..." : "reading the store...")
        try log.log(.info, "checking path existence...")
        try report(upTo: existenceEnd)
        if checkContents {
            if isNix { try log.log(.info, "checking link hashes...") }
            for check in result.checks {
                guard case .link(let name) = check.subject else { continue }
                try report(upTo: check.problemsBefore)
                try log.log(.talkative, "checking contents of '\(String(decoding: name, as: UTF8.self))'")
            }
            try report(upTo: linksEnd)
            try log.log(.info, isNix ? "checking store hashes..." : "checking hashes...")
            for check in result.checks {
                guard case .path(let path) = check.subject else { continue }
                try report(upTo: check.problemsBefore)
                try log.log(.talkative, "checking contents of '\(context.render(path))'")
            }
        }
        try report(upTo: result.problems.count)
        return !result.modifiedPaths.isEmpty || !result.modifiedLinks.isEmpty
    }

    /// guix-daemon says every finding at lvlError; Nix 2.8 says a path it could invalidate (and
    /// what was put right) at info, the rest as errors.
    static func level(of problem: VerifyProblem, _ dialect: Dialect) -> Verbosity {
        switch problem {
        case .disappeared, .repairedMetadata, .removedLink: dialect == .nix ? .info : .error
        case .disappearedWithReferrers, .unreadable, .modified, .modifiedLink: .error
        }
    }

    /// OptimiseStore: for Nix clients, an optimiseStore activity with progress over the valid
    /// paths (in store-path order), a talkative activity per path, then the total.
    public func optimiseStore(log activities: ActivityLog) throws {
        guard isNix else { _ = try store.optimiseStore(); return }
        var total = OptimiseStatistics()
        try activities.within(.optimiseStore) { id in
            let paths = try store.queryAllValidPaths().sorted { $0.baseName < $1.baseName }
            // Nix 2.8 reads `.links` before it starts and says how many names it read; it names
            // each file it links to an existing entry, within that path's activity.
            let talkative = activities.includes(.talkative)
            if talkative {
                let loaded = try store.linkDirectoryEntryCount()
                try activities.log(.talkative, "loaded \(loaded) hash inodes")
            }
            try activities.progress(id, done: 0, expected: UInt64(paths.count))
            var linked: [(file: [[UInt8]], key: [UInt8])] = []
            for (index, path) in paths.enumerated() {
                try activities.within(.unknown, level: .talkative, text: "optimising path '\(context.render(path))'") { _ in
                    if let s = try store.optimiseValidPath(path, observer: talkative ? { linked.append(($0, $1)) } : nil) {
                        total.filesLinked += s.filesLinked
                        total.bytesFreed += s.bytesFreed
                    }
                    for (file, key) in linked {
                        let name = file.map { String(decoding: $0, as: UTF8.self) }.joined(separator: "/")
                        try activities.log(.talkative, "linking '\(store.layout.storePath)/\(name)' to '\(store.layout.linksDirectory)/\(String(decoding: key, as: UTF8.self))'")
                    }
                    linked.removeAll()
                }
                try activities.progress(id, done: UInt64(index + 1), expected: UInt64(paths.count))
            }
        }
        try activities.log(.info, "\(Self.mebibytes(Double(total.bytesFreed) / (1024 * 1024))) MiB freed by hard-linking \(total.filesLinked) files")
    }
}
