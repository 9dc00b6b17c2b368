import Glibc
import LinuxSystem
import LocalStore
import StoreFormats

/// `cloister-store-worker COMMAND …`: a separate process acting on a store named by the usual
/// environment variables, for LocalStoreTests.
///
/// - `add-nar NAME FILE`: add FILE (a NAR) recursively, print the store path.
/// - `churn SEED`: forever add text and NAR paths (some referring to earlier ones), register
///   extra paths, and collect garbage — to be SIGKILLed at a random moment.
@main
struct StoreWorker {
    static func main() {
        let args = Array(CommandLine.arguments.dropFirst())
        do {
            var env: [String: String] = [:]
            for name in ["NIX_STORE_DIR", "GUIX_STATE_DIRECTORY"] { if let v = getenv(name) { env[name] = String(cString: v) } }
            var configuration = try StoreConfiguration(environment: env)
            configuration.reservedSpace = 0
            let store = try LocalStore(configuration: configuration)
            switch args.first {
            case "add-nar" where args.count == 3:
                let fd = try FileDescriptor.open(args[2], .readOnly)
                let path = try store.addToStore(nar: FileSource(fd: fd), name: args[1], method: .recursive)
                print(path.absolute(in: store.storeDirectory))
            case "churn" where args.count == 2:
                try churn(store, seed: UInt64(args[1]) ?? 1)
            default:
                complain("usage: cloister-store-worker add-nar NAME FILE | churn SEED")
                exit(2)
            }
        } catch {
            complain("cloister-store-worker: \(error)")
            exit(1)
        }
    }

    static func churn(_ store: LocalStore, seed: UInt64) throws {
        var random = seed | 1
        func next() -> UInt64 { random ^= random << 13; random ^= random >> 7; random ^= random << 17; return random }
        var made: [StorePath] = []
        var round: UInt64 = 0
        while true {
            round += 1
            switch next() % 5 {
            case 0, 1:
                let refs = made.isEmpty ? [] : Set([made[Int(next() % UInt64(made.count))]])
                let text = refs.map { $0.absolute(in: store.storeDirectory) }.joined() + " \(seed)-\(round)"
                if let p = try? store.addTextToStore(name: "text-\(round)", contents: Array(text.utf8), references: refs) { made.append(p) }
            case 2, 3:
                // A directory tree with a few files, one large enough to be deduplicated.
                var w = NARWriter(sink: [UInt8]())
                try w.beginDirectory()
                for (i, size) in [100, 9000, Int(next() % 70_000)].enumerated() {
                    try w.beginEntry(name: Array("f\(i)".utf8))
                    let bytes = [UInt8](repeating: UInt8(truncatingIfNeeded: next()), count: size)
                    try w.beginRegularFile(executable: i == 0, size: UInt64(size))
                    try bytes.withUnsafeBytes { try w.contents($0) }
                    try w.endRegularFile()
                    try w.endEntry()
                }
                try w.endDirectory()
                made.append(try store.addToStore(nar: ByteArraySource(w.sink), name: "tree-\(round)", method: .recursive))
            default:
                _ = try store.collectGarbage(GCOptions(action: .deleteDead))
                made.removeAll { (try? store.isValidPath($0)) != true }
            }
        }
    }
}

/// A NAR source over a file descriptor.
struct FileSource: NARByteSource {
    let fd: FileDescriptor
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int { try fd.read(into: buffer) }
}

func complain(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}
