import StoreFormats

/// ATerm parse throughput on a generated set of realistic derivations (Guix/nixpkgs-shaped:
/// one to three outputs, tens of input derivations, a few sources, a bash builder, 20–40 env
/// entries of which a few are multi-kilobyte scripts with quotes, backslashes and newlines).
/// Reference: one pass over the same bytes counting `"` — roughly the memory-bandwidth floor
/// any parser must pay.
enum ATermBench {
    static func run(_ work: BenchDirectory) throws {
        let files = try generate(count: 4000)
        let total = files.reduce(0) { $0 + $1.count }
        let megabytes = Double(total) / 1e6

        // Reference: count quote bytes over the same buffers.
        var quotes = 0
        var rounds = 0
        var start = now()
        repeat {
            for file in files {
                file.withUnsafeBufferPointer { buffer in
                    var n = 0
                    for b in buffer where b == 0x22 { n &+= 1 }
                    quotes &+= n
                }
            }
            rounds += 1
        } while now() - start < 1.0
        let scanRate = megabytes * Double(rounds) / (now() - start)
        precondition(quotes > 0)

        var parsed = 0
        rounds = 0
        start = now()
        repeat {
            for file in files {
                let derivation = try Derivation(aterm: file, store: .guix)
                parsed &+= derivation.env.count
            }
            rounds += 1
        } while now() - start < 2.0
        let seconds = now() - start
        let parseRate = megabytes * Double(rounds) / seconds
        let drvRate = Double(files.count * rounds) / seconds
        precondition(parsed > 0)

        let drvs = try files.map { try Derivation(aterm: $0, store: .guix) }
        rounds = 0
        var rendered = 0
        start = now()
        repeat {
            for derivation in drvs { rendered &+= derivation.render(in: .guix).count }
            rounds += 1
        } while now() - start < 1.0
        let renderRate = megabytes * Double(rounds) / (now() - start)

        print("bench aterm: \(files.count) derivations, \(format(megabytes)) MB, mean \(total / files.count) bytes")
        report("aterm-parse", value: parseRate, unit: "MB/s", reference: scanRate, referenceName: "quote scan")
        report("aterm-parse-drvs", value: drvRate, unit: "drvs/s")
        report("aterm-render", value: renderRate, unit: "MB/s", reference: scanRate, referenceName: "quote scan")
    }

    /// Deterministic (xorshift) so every run parses the same bytes.
    struct Generator {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        mutating func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
        mutating func digest() -> [UInt8] { (0..<20).map { _ in UInt8(truncatingIfNeeded: next()) } }
    }

    static let words = ["gcc", "glibc", "bash", "coreutils", "python", "perl", "openssl", "zlib", "libffi", "ncurses", "readline", "sed", "grep", "gawk", "make", "binutils"]

    static func generate(count: Int) throws -> [[UInt8]] {
        var g = Generator()
        func path(_ suffix: String = "") throws -> StorePath {
            try StorePath(digest: g.digest(), name: "\(words[g.below(words.count)])-\(g.below(20)).\(g.below(10))\(suffix)")
        }
        func script(_ lines: Int) -> [UInt8] {
            var s = ""
            for i in 0..<lines {
                s += "  if [ -e \"$out/lib/\(words[g.below(words.count)])\" ]; then substituteInPlace configure --replace \"/usr/bin/\\(file)\" \"$(type -P file)\"; fi # \(i)\n"
            }
            return Array(s.utf8)
        }
        var files: [[UInt8]] = []
        for _ in 0..<count {
            let name = "\(words[g.below(words.count)])-\(g.below(9)).\(g.below(30))"
            var outputs: [String: DerivationOutput] = [:]
            for output in ["out", "lib", "doc"].prefix(1 + g.below(3)) { outputs[output] = .inputAddressed(try path()) }
            var inputs: [StorePath: Set<String>] = [:]
            for _ in 0..<(5 + g.below(35)) { inputs[try path(".drv")] = g.below(4) == 0 ? ["lib", "out"] : ["out"] }
            var sources = Set<StorePath>()
            for _ in 0..<(1 + g.below(5)) { sources.insert(try path()) }
            var env: [[UInt8]: [UInt8]] = [:]
            for output in outputs.keys { env[Array(output.utf8)] = Array(outputs[output]!.path!.absolute(in: .guix).utf8) }
            for i in 0..<(20 + g.below(20)) {
                let key = "\(words[g.below(words.count)])Flag\(i)"
                env[Array(key.utf8)] = Array((0..<(1 + g.below(6))).map { _ in (try? path().absolute(in: .guix)) ?? "" }.joined(separator: " ").utf8)
            }
            env[Array("buildPhase".utf8)] = script(10 + g.below(60))
            env[Array("installPhase".utf8)] = script(5 + g.below(20))
            env[Array("name".utf8)] = Array(name.utf8)
            env[Array("system".utf8)] = Array("x86_64-linux".utf8)
            let builder = Array(try path().absolute(in: .guix).utf8) + Array("/bin/bash".utf8)
            let derivation = Derivation(
                outputs: outputs, inputDerivations: inputs, inputSources: sources, platform: "x86_64-linux",
                builder: builder, args: [Array("-e".utf8), Array(try path().absolute(in: .guix).utf8)], env: env)
            files.append(derivation.render(in: .guix))
        }
        return files
    }
}
