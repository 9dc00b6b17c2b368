import Glibc

/// `cloister-bench [NAME…]`: the benchmarks behind `make bench`. Each prints lines
/// `bench <name>: <figure> <unit> (reference <figure> <unit>, ratio <r>)` — a ratio against a
/// reference measured in the same run, never a timed assertion.
///
/// To add one: a file `<X>Bench.swift` with `enum XBench { static func run(_ work: BenchDirectory) throws }`
/// and one line in `Bench.all`.
@main
struct Bench {
    static let all: [(name: String, run: @Sendable (BenchDirectory) throws -> Void)] = [
        ("nix32", Nix32Bench.run),
        ("protocol", ProtocolBench.run),
        ("aterm", ATermBench.run),
        ("nar", NARBench.run),
        ("spawn", SpawnBench.run),
        ("build", BuildBench.run),
        ("build-socket", SocketBuildBench.run),
        ("store", StoreBench.run),
        ("store-add", StoreAddBench.run),
    ]

    static func main() {
        let wanted = Set(CommandLine.arguments.dropFirst())
        let work = BenchDirectory()
        for bench in all where wanted.isEmpty || wanted.contains(bench.name) {
            do {
                try bench.run(work)
            } catch {
                print("bench \(bench.name): failed: \(error)")
            }
        }
    }
}

/// A scratch folder for generated inputs (`CLOISTER_BENCH_DIR`, default /var/tmp/cloister-bench).
struct BenchDirectory: Sendable {
    let path: String
    init() {
        path = getenv("CLOISTER_BENCH_DIR").map { String(cString: $0) } ?? "/var/tmp/cloister-bench"
        mkdir(path, 0o755)
    }
}

/// Monotonic seconds.
func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Prints one result line with its ratio to the reference.
func report(_ name: String, value: Double, unit: String, reference: Double? = nil, referenceName: String = "reference") {
    var line = "bench \(name): \(format(value)) \(unit)"
    if let reference {
        line += " (\(referenceName) \(format(reference)) \(unit), ratio \(format(value / reference)))"
    }
    print(line)
}

func format(_ x: Double) -> String {
    let scaled = (x * 100).rounded() / 100
    return "\(scaled)"
}
