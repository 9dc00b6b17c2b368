import Glibc
import LinuxSystem
import LocalStore
import StoreFormats

/// `cloister-store-worker COMMAND …`: a separate process acting on a store named by the usual
/// environment variables, for LocalStoreTests.
///
/// - `add-nar NAME FILE`: add FILE (a NAR) recursively, print the store path.
/// - `query-valid PATH`: print `valid` or `invalid`, then `read-only` if the store opened so.
/// - `add-text NAME TEXT`: add TEXT as a text path, print the store path.
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
            case "query-valid" where args.count == 2:
                let path = try store.parseStorePath(args[1])
                print(try store.isValidPath(path) ? "valid" : "invalid")
                if store.isReadOnly { print("read-only") }
            case "add-text" where args.count == 3:
                let path = try store.addTextToStore(name: args[1], contents: Array(args[2].utf8))
                print(path.absolute(in: store.storeDirectory))
            default:
                complain("usage: cloister-store-worker add-nar NAME FILE | query-valid PATH | add-text NAME TEXT")
                exit(2)
            }
        } catch {
            complain("cloister-store-worker: \(error)")
            exit(1)
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
