import StoreFormats
import Testing

/// render → parse → render on random derivations whose builder, args and env hold arbitrary
/// bytes (quotes, backslashes, LF/CR/TAB, NUL, non-UTF-8), under both store directories.
@Suite(.tags(.small))
struct DerivationPropertyTests {
    static func randomBytes(_ rng: inout SplitMix64, maxLength: Int) -> [UInt8] {
        let special: [UInt8] = [0x22, 0x5C, 0x0A, 0x0D, 0x09, 0x00, 0x28, 0x29, 0x2C, 0x5B, 0x5D, 0xC3, 0xA9, 0xFF, 0x80]
        return (0..<Int.random(in: 0...maxLength, using: &rng)).map { _ in
            Bool.random(using: &rng) ? special.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng)
        }
    }

    static func randomPath(_ rng: inout SplitMix64, suffix: String = "") throws -> StorePath {
        let digest = (0..<20).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let names = ["hello", "glibc-2.39", "gcc-14.2.0-lib", ".dot", "a+b=c?d_e"]
        return try StorePath(digest: digest, name: names.randomElement(using: &rng)! + suffix)
    }

    static func randomDerivation(_ rng: inout SplitMix64) throws -> Derivation {
        var outputs: [String: DerivationOutput] = [:]
        if Int.random(in: 0..<5, using: &rng) == 0 {
            let algorithm = HashAlgorithm.allCases.randomElement(using: &rng)!
            let hash = try Hash(algorithm: algorithm, bytes: (0..<algorithm.size).map { _ in UInt8.random(in: 0...255, using: &rng) })
            outputs["out"] = .fixed(try randomPath(&rng), method: Bool.random(using: &rng) ? .flat : .recursive, hash: hash)
        } else {
            for name in ["out", "dev", "lib", "doc", "bin", "debug"] where name == "out" || Bool.random(using: &rng) {
                switch Int.random(in: 0..<8, using: &rng) {
                case 0: outputs[name] = .deferred
                case 1: outputs[name] = .floating(method: .recursive, algorithm: .sha256)
                case 2: outputs[name] = .impure(method: .flat, algorithm: .sha512)
                default: outputs[name] = .inputAddressed(try randomPath(&rng))
                }
            }
        }
        var inputs: [StorePath: Set<String>] = [:]
        for _ in 0..<Int.random(in: 0...4, using: &rng) {
            inputs[try randomPath(&rng, suffix: ".drv")] = Set(["out", "dev", "lib"].filter { _ in Bool.random(using: &rng) } + ["out"])
        }
        var sources = Set<StorePath>()
        for _ in 0..<Int.random(in: 0...3, using: &rng) { sources.insert(try randomPath(&rng)) }
        var env: [[UInt8]: [UInt8]] = [:]
        for _ in 0..<Int.random(in: 0...12, using: &rng) {
            env[randomBytes(&rng, maxLength: 12)] = randomBytes(&rng, maxLength: 200)
        }
        return Derivation(
            outputs: outputs, inputDerivations: inputs, inputSources: sources,
            platform: ["x86_64-linux", "aarch64-linux", "i686-linux", ":"].randomElement(using: &rng)!,
            builder: randomBytes(&rng, maxLength: 40),
            args: (0..<Int.random(in: 0...5, using: &rng)).map { _ in randomBytes(&rng, maxLength: 60) },
            env: env)
    }

    @Test func renderParseRender() throws {
        var rng = SplitMix64(seed: 0xC10_1573)
        for iteration in 0..<400 {
            let derivation = try Self.randomDerivation(&rng)
            let store: StoreDirectory = iteration % 2 == 0 ? .guix : .nix
            let bytes = derivation.render(in: store)
            let parsed = try Derivation(aterm: bytes, store: store)
            #expect(parsed == derivation, "iteration \(iteration)")
            #expect(parsed.render(in: store) == bytes, "iteration \(iteration)")
        }
    }

    /// Any proper prefix of a valid file is rejected (never accepted, never a trap).
    @Test func truncationsAreRejected() throws {
        var rng = SplitMix64(seed: 42)
        for _ in 0..<20 {
            let bytes = try Self.randomDerivation(&rng).render(in: .guix)
            for cut in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 50)) {
                #expect(throws: FormatError.self) { try Derivation(aterm: Array(bytes[..<cut]), store: .guix) }
            }
        }
    }

    /// Flipping a byte either gives an error or a derivation that renders back to the mutant.
    @Test func mutationsNeverBreakTheRoundTrip() throws {
        var rng = SplitMix64(seed: 7)
        for _ in 0..<40 {
            var bytes = try Self.randomDerivation(&rng).render(in: .nix)
            for _ in 0..<20 {
                let index = Int.random(in: 0..<bytes.count, using: &rng)
                let old = bytes[index]
                bytes[index] = UInt8.random(in: 0...255, using: &rng)
                if let parsed = try? Derivation(aterm: bytes, store: .nix) {
                    #expect(parsed.render(in: .nix) == bytes)
                }
                bytes[index] = old
            }
        }
    }
}
