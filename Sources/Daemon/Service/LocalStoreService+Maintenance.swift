/// CollectGarbage, VerifyStore and OptimiseStore, with the progress Nix 2.8's daemon reports to
/// Nix clients (gc.cc, local-store.cc verifyStore, optimise-store.cc): the `finding garbage
/// collector roots...` family of lines, one `deleting '<path>'` per deleted entry, verify's
/// phase lines, and optimise's activity with per-path progress. Guix clients get what they got
/// before (guix-daemon's messages are not specified here, so nothing is invented for them).
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
        try log?.line("finding garbage collector roots...")
        let result = try store.collectGarbage(GCOptions(action: action, maxFreed: request.maxFreed == 0 ? .max : request.maxFreed))
        if let log {
            switch request.action {
            case .deleteSpecific: break
            case .deleteDead: try log.line("deleting garbage...")
            case .returnLive, .returnDead: try log.line("determining live/dead paths...")
            }
            if request.action == .deleteDead || request.action == .deleteSpecific {
                for path in result.paths { try log.line("deleting '\(path)'") }
                try log.line("deleting unused links...")
                try log.line("note: currently hard linking saves \(Self.mebibytes(linkSavings())) MiB")
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

    /// VerifyStore: problems go to the client as messages; errors remain when contents differ
    /// from the database (repair fixes metadata, never blesses modified contents).
    public func verifyStore(checkContents: Bool, repair: Bool, log: LogSink) throws -> Bool {
        if isNix, let log = activityLog {
            try log.line("reading the Nix store...")
            try log.line("checking path existence...")
            if checkContents {
                try log.line("checking link hashes...")
                try log.line("checking store hashes...")
            }
        }
        let result = try store.verifyStore(checkContents: checkContents, repair: repair)
        for line in result.problems { try log(.next(Array((line + "\n").utf8))) }
        return !result.modifiedPaths.isEmpty
    }

    /// OptimiseStore: for Nix clients, an optimiseStore activity with progress over the valid
    /// paths (in store-path order), a talkative activity per path, then the total.
    public func optimiseStore(log: LogSink) throws {
        guard isNix, let activities = activityLog else { _ = try store.optimiseStore(); return }
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
        try activities.line("\(Self.mebibytes(Double(total.bytesFreed) / (1024 * 1024))) MiB freed by hard-linking \(total.filesLinked) files")
    }
}
