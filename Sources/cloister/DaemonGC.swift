import Glibc
import LinuxSystem
import StoreFormats
import WorkerProtocol

/// `cloister gc` through the daemon (CollectGarbage, FindRoots, VerifyStore, OptimiseStore and
/// the queries), so any user can run it and the daemon's locks and temporary roots apply.
/// `GCCommand` chooses this when a daemon answers and `--local` is not given; the failure
/// list lives in the Guix dialect only and stays local.
enum DaemonGC {
    static func run(_ action: GCCommand.Action, _ items: [String]) throws -> Int32 {
        let connection = try DaemonConnection.open()
        let client = connection.client
        func paths() throws -> [StorePath] { try items.map { try connection.storePath($0) } }
        func printSorted(_ set: Set<StorePath>) { for p in set.sorted() { print(connection.render(p)) } }
        func collect(_ action: GCRequest.Action, _ list: [StorePath] = [], maxFreed: UInt64 = .max) throws -> (paths: [String], freed: UInt64) {
            let reply = try client.call(.collectGarbage(action: action.rawValue, paths: list, ignoreLiveness: false, maxFreed: maxFreed))
            guard case .collectGarbage(let paths, let freed) = reply else { throw UsageError("the daemon gave an unexpected reply to CollectGarbage") }
            return (paths, freed)
        }
        func deleteDead(maxFreed: UInt64) throws {
            writeStandardError("finding garbage collector roots...\ndeleting garbage...\n")
            let result = try collect(.deleteDead, maxFreed: maxFreed)
            for p in result.paths { writeStandardError("deleting `\(p)'\n") }
            writeStandardError("freed \(GCCommand.mib(result.freed)) MiB\n")
        }

        switch action {
        case .collect(let min):
            guard items.isEmpty else { throw UsageError("extraneous arguments: \(items.joined(separator: " "))") }
            try deleteDead(maxFreed: min ?? .max)
        case .freeSpace(let free):
            let store = try FileDescriptor.open(connection.storeDirectory.path, [.directory])
            let available = try store.availableBytes()
            try? store.close()
            if available >= free {
                writeStandardError("cloister gc: already \(GCCommand.mib(available)) MiB available on the store\n")
            } else {
                try deleteDead(maxFreed: free - available)
            }
        case .delete:
            for p in try collect(.deleteSpecific, try paths()).paths { writeStandardError("deleting `\(p)'\n") }
        case .listRoots:
            guard case .pairs(let roots) = try client.call(.findRoots) else { throw UsageError("the daemon gave an unexpected reply to FindRoots") }
            for link in Set(roots.map(\.key)).sorted() { print(link) }
        case .listDead:
            for p in try collect(.returnDead).paths { print(p) }
        case .listLive:
            for p in try collect(.returnLive).paths { print(p) }
        case .references:
            var all = Set<StorePath>()
            for p in try paths() { all.formUnion(try connection.pathInfo(p).references) }
            printSorted(all)
        case .referrers:
            var all = Set<StorePath>()
            for p in try paths() {
                for text in try client.strings(.queryReferrers(p)) { all.insert(try client.context.parse(text)) }
            }
            printSorted(all)
        case .requisites:
            printSorted(try QueryCommand.closure(try paths(), connection))
        case .derivers:
            var all = Set<StorePath>()
            for p in try paths() {
                if let d = try connection.pathInfo(p).deriver, try client.isValidPath(d) { all.insert(d) }
            }
            printSorted(all)
        case .verify(let contents, let repair):
            // As `guix gc --verify`: the Guix dialect at the daemon's default verbosity (info),
            // so the daemon's own phase lines and findings say what is going on.
            var options = ClientOptions.guixDefault
            options.integers[3] = 1
            let client = try DaemonConnection.open(options: options, version: .guix).client
            client.onLog = { message in
                if case .next(let bytes) = message { bytes.withUnsafeBytes { try? writeStandardOutputError($0) } }
            }
            guard case .int(let errorsRemain) = try client.call(.verifyStore(checkContents: contents, repair: repair)) else {
                throw UsageError("the daemon gave an unexpected reply to VerifyStore")
            }
            return errorsRemain == 0 ? 0 : 1
        case .optimize:
            try client.call(.optimiseStore)
        case .listFailures, .clearFailures, .listBusy, .vacuum:
            // No daemon operation for these: they read /proc or repack the database directly.
            return try GCCommand.runLocal(action, items)
        }
        return 0
    }
}

/// Writes bytes to standard error (the daemon's messages during long operations).
func writeStandardOutputError(_ bytes: UnsafeRawBufferPointer) throws {
    var offset = 0
    while offset < bytes.count {
        let n = Glibc.write(2, bytes.baseAddress! + offset, bytes.count - offset)
        if n <= 0 { return }
        offset += n
    }
}
