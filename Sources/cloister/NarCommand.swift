import Glibc
import LinuxSystem
import LocalStore
import StoreFormats

/// `cloister nar dump PATH > x.nar` and `cloister nar restore DIR < x.nar`, as
/// `nix-store --dump` / `--restore`: canonical NARs only (formats.md §3), streamed both ways.
enum NarCommand {
    static let usage = """
        Usage: cloister nar dump PATH        write the NAR of PATH to standard output
               cloister nar restore DIR      create DIR (must not exist) from a NAR on standard input
        """

    static func run(_ arguments: [String]) throws -> Int32 {
        var positional: [String] = []
        var iterator = OptionIterator(arguments)
        while let option = try iterator.next() {
            switch option {
            case .flag("-h"), .flag("--help"):
                print(usage)
                return 0
            case .positional(let p): positional.append(p)
            case .flag(let f): throw UsageError("unknown option '\(f)'")
            case .value(let o, _): throw UsageError("unknown option '\(o)'")
            }
        }
        guard positional.count == 2 else { throw UsageError("expected a subcommand and one path\n\(usage)") }
        switch positional[0] {
        case "dump": try dump(positional[1])
        case "restore": try restore(positional[1])
        default: throw UsageError("unknown subcommand '\(positional[0])' (dump or restore)")
        }
        return 0
    }

    static func dump(_ path: String) throws {
        // The NAR writer passes big content chunks straight through to the fd.
        _ = try NARDumper.dump(path: path, to: FileDescriptorSink(try standardStream(1)))
    }

    static func restore(_ path: String) throws {
        var restorer = try NARRestorer(creating: path)
        let input = try standardStream(0)
        // We own standard input entirely, so reading ahead is fine.
        let reader = NARReader(source: BufferedSource(FileDescriptorSource(input)), chunkSize: 1 << 20)
        do {
            try reader.read(into: &restorer)
        } catch {
            try? restorer.discard()
            throw error
        }
    }

    /// An owned duplicate of standard input or output (closing it leaves the original open).
    static func standardStream(_ number: Int32) throws -> FileDescriptor {
        let fd = fcntl(number, F_DUPFD_CLOEXEC, 0)
        guard fd >= 0 else { throw SystemError("dup", path: number == 0 ? "standard input" : "standard output", errno: .current) }
        return FileDescriptor(owning: fd)
    }
}
