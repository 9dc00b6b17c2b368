import Glibc
import StoreFormats

/// `cloister COMMAND [ARGS…]`: the user-facing tool. Each command lives in a file of its own
/// (`HashCommand.swift`, …) and registers itself in `Cloister.commands`.
@main
struct Cloister {
    /// name → (one-line summary, entry point taking the arguments after the command name).
    static let commands: [(name: String, summary: String, run: @Sendable ([String]) throws -> Int32)] = [
        ("add", "add files or trees to the store through the daemon (like `nix-store --add`)", AddCommand.run),
        ("query", "ask the daemon about store items: references, closure, deriver, hash, size", QueryCommand.run),
        ("archive", "export store items as an archive, or import one (like `guix archive`)", ArchiveCommand.run),
        ("build", "build derivations through the daemon, showing progress (like `guix build`)", BuildCommand.run),
        ("status", "say whether the daemon answers, and its socket, protocol and store", StatusCommand.run),
        ("gc", "collect garbage and query the store (like `guix gc`)", GCCommand.run),
        ("log", "print the build log of a derivation or output (like `guix build --log-file`)", LogCommand.run),
        ("hash", "print the hash of a file or tree (like `guix hash`)", HashCommand.run),
        ("nar", "write a tree as a NAR, or restore a NAR to a new tree", NarCommand.run),
        ("derivation", "show .drv files as JSON (like `nix show-derivation`)", DerivationCommand.run),
        ("setup", "create the build users or the daemon's user, the store and state directories", SetupCommand.run),
        ("store-path", "compute the store path of a text, source or fixed-output object", StorePathCommand.run),
    ]

    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard let name = arguments.first, name != "--help", name != "-h" else {
            printUsage()
            exit(arguments.isEmpty ? 1 : 0)
        }
        if name == "--version" {
            print("cloister \(CloisterVersion.string)")
            exit(0)
        }
        guard let command = commands.first(where: { $0.name == name }) else {
            failure("unknown command '\(name)'; try 'cloister --help'")
        }
        do {
            exit(try command.run(Array(arguments.dropFirst())))
        } catch let error as UsageError {
            failure("\(name): \(error.message)")
        } catch {
            failure("\(name): \(String(describing: error))")
        }
    }

    static func printUsage() {
        print("Usage: cloister COMMAND [OPTION…] [ARG…]\n\nCommands:")
        for command in commands {
            let pad = String(repeating: " ", count: max(1, 15 - command.name.count))
            print("  \(command.name)\(pad)\(command.summary)")
        }
        print("\nRun 'cloister COMMAND --help' for a command's options.")
    }
}

/// The version both executables print.
enum CloisterVersion {
    static let string = "0.1.0"
}

/// A command-line mistake: printed as one line, exit status 1.
struct UsageError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// Prints `cloister: MESSAGE` on stderr and exits 1. Errors are one readable line; the
/// daemon's colours stay only on a terminal.
func failure(_ message: String) -> Never {
    writeStandardError("cloister: \(isatty(2) == 1 ? message : MessageStyle.withoutColours(message))\n")
    exit(1)
}

func writeStandardError(_ text: String) {
    var text = text
    text.withUTF8 { buffer in _ = write(2, buffer.baseAddress, buffer.count) }
}

/// Writes raw bytes to standard output, all of them.
func writeStandardOutput(_ bytes: UnsafeRawBufferPointer) throws {
    var offset = 0
    while offset < bytes.count {
        let n = write(1, bytes.baseAddress! + offset, bytes.count - offset)
        if n < 0 {
            if errno == EINTR { continue }
            throw UsageError("cannot write to standard output: \(String(cString: strerror(errno)))")
        }
        offset += n
    }
}
