import Glibc
import StoreFormats

/// One libFuzzer binary for every parser; `CLOISTER_FUZZ_TARGET` picks the parser. Built with
/// `-sanitize=fuzzer -DFUZZING` it is a libFuzzer program (`make fuzz`); built normally it
/// replays the files named on its command line through the same target (corpus regression).
///
/// To add a target: write `enum XTarget { static func run(_ bytes: UnsafeRawBufferPointer) }`
/// in a file of its own here and list it in `FuzzTargets.all`.
enum FuzzTargets {
    static let all: [String: @Sendable (UnsafeRawBufferPointer) -> Void] = [
        "store-path": StorePathTarget.run,
        "wire": WireTarget.run,
        "nar": NARTarget.run,
        "aterm": ATermTarget.run,
        "narinfo": NarInfoTarget.run,
        "sexp": SExpressionTarget.run,
        "import": ImportTarget.run,
    ]

    static let selected: (@Sendable (UnsafeRawBufferPointer) -> Void)? = {
        guard let name = getenv("CLOISTER_FUZZ_TARGET").map({ String(cString: $0) }) else { return nil }
        return all[name]
    }()
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let target = FuzzTargets.selected else {
        let names = FuzzTargets.all.keys.sorted().joined(separator: ", ")
        say("set CLOISTER_FUZZ_TARGET to one of: \(names)")
        exit(2)
    }
    target(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

#if FUZZING
/// SwiftPM links an executable's entry point as `<target>_main`; hand control to libFuzzer's
/// driver from there (libFuzzer's own `main` is then not linked).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

@_cdecl("cloister_fuzz_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, fuzzOneInput)
}
#else
/// Replay mode: `CLOISTER_FUZZ_TARGET=nar cloister-fuzz FILE…`.
@main
struct Replay {
    static func main() {
        for path in CommandLine.arguments.dropFirst() {
            guard let file = fopen(path, "rb") else {
                say("cannot open \(path)")
                exit(1)
            }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = fread(&chunk, 1, chunk.count, file)
                if n == 0 { break }
                bytes += chunk[0..<n]
            }
            fclose(file)
            _ = bytes.withUnsafeBufferPointer { fuzzOneInput($0.baseAddress, $0.count) }
        }
    }
}
#endif

private func say(_ message: String) {
    let line = message + "\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}
