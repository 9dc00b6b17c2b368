import Foundation
import StoreFormats
import Testing

/// Every derivation in `vectors/derivations.json`: byte-exact parse and render, `.drv` path,
/// output paths, both hashDerivationModulo flavours, the daemon's output check.
@Suite(.tags(.small))
struct DerivationVectorTests {
    @Test func vectorsArePresent() {
        #expect(DerivationFixtures.cases.count >= 15)
    }

    @Test(arguments: DerivationFixtures.cases)
    func roundTripIsByteExact(_ c: DerivationFixtures.Case) throws {
        let bytes = try DerivationFixtures.bytes(c.file)
        let derivation = try Derivation(aterm: bytes, store: .nix)
        #expect(derivation.render(in: .nix) == bytes)
        #expect(derivation.isFixedOutput == c.fixedOutput)
    }

    @Test(arguments: DerivationFixtures.cases)
    func drvPath(_ c: DerivationFixtures.Case) throws {
        let derivation = try Derivation(aterm: try DerivationFixtures.bytes(c.file), store: .nix)
        let path = try derivation.path(name: c.name, in: .nix)
        #expect(path.absolute(in: .nix) == c.drvPath)
        #expect(try Derivation.name(of: path) == c.name)
    }

    @Test(arguments: DerivationFixtures.cases)
    func hashModuloBothFlavours(_ c: DerivationFixtures.Case) throws {
        let derivation = try Derivation(aterm: try DerivationFixtures.bytes(c.file), store: .nix)
        var hasher = DerivationHasher(store: .nix, resolve: DerivationFixtures.resolver())
        #expect(try hasher.hashModulo(derivation, maskOutputs: true).base16 == c.maskedHex)
        #expect(try hasher.hashModulo(derivation, maskOutputs: false).base16 == c.asInputHex)
        let path = try StorePath(parsing: c.drvPath, in: .nix)
        #expect(try hasher.hashModulo(of: path).base16 == c.asInputHex)
    }

    @Test(arguments: DerivationFixtures.cases)
    func outputPathsAreRecomputed(_ c: DerivationFixtures.Case) throws {
        let derivation = try Derivation(aterm: try DerivationFixtures.bytes(c.file), store: .nix)
        var hasher = DerivationHasher(store: .nix, resolve: DerivationFixtures.resolver())
        let computed = try derivation.computedOutputPaths(name: c.name, hasher: &hasher)
        #expect(computed.mapValues { $0.absolute(in: .nix) } == c.outputs)
        try derivation.checkOutputs(name: c.name, hasher: &hasher)
    }

    /// Strip the outputs (as `builtins.derivation` starts) and fill them back in.
    @Test(arguments: DerivationFixtures.cases)
    func fillingInOutputsRebuildsTheFile(_ c: DerivationFixtures.Case) throws {
        let bytes = try DerivationFixtures.bytes(c.file)
        var derivation = try Derivation(aterm: bytes, store: .nix)
        if !derivation.isFixedOutput {
            for name in derivation.outputs.keys {
                derivation.outputs[name] = .deferred
                derivation.env[Array(name.utf8)] = Array("junk".utf8)
            }
        }
        var hasher = DerivationHasher(store: .nix, resolve: DerivationFixtures.resolver())
        for name in derivation.outputs.keys where !derivation.isFixedOutput {
            derivation.outputs[name] = .inputAddressed(try StorePath(baseName: "00000000000000000000000000000000-x"))
        }
        try derivation.fillInOutputPaths(name: c.name, hasher: &hasher)
        #expect(derivation.render(in: .nix) == bytes)
    }

    @Test func drvOutputIdsSeenOnTheWire() throws {
        let seen = try #require(DerivationFixtures.json["static_output_hashes_seen_on_wire"] as? [String: String])
        for (key, value) in seen where key.hasSuffix("!out") {
            let file = "drv/" + key.dropLast(4)
            let derivation = try Derivation(aterm: try DerivationFixtures.bytes(file), store: .nix)
            var hasher = DerivationHasher(store: .nix)
            let ids = try derivation.drvOutputs(hasher: &hasher)
            #expect(ids.map(\.description) == ["\(value)!out"])
            #expect(try DrvOutput(parsing: "\(value)!out") == ids[0])
        }
    }

    @Test func badVectorsAreRejected() throws {
        let invalid = try #require(DerivationFixtures.json["invalid"] as? [[String: Any]])
        #expect(!invalid.isEmpty)
        for entry in invalid {
            let file = try #require(entry["file"] as? String)
            let bytes = try DerivationFixtures.bytes(file)
            #expect(throws: FormatError.self) { try Derivation(aterm: bytes, store: .nix) }
        }
        let bytes = try DerivationFixtures.bytes("drv/bad/duplicate-env-key.drv")
        let offset = try #require(bytes.indices.first { bytes[$0...].starts(with: Array("(\"name\",\"bar\")".utf8)) }) + 1
        #expect(throws: FormatError.invalidDerivation(offset: offset, reason: "duplicate env key 'name'")) {
            try Derivation(aterm: bytes, store: .nix)
        }
    }

    /// Nix's own hash-modulo unit-test data (§4.5): the FOD formula, the as-input hash of
    /// `intermediate-first`, and the exact ATerm preimage with input hashes substituted.
    @Test func nixHashModuloUnitTestData() throws {
        let source = try Derivation(aterm: try DerivationFixtures.bytes("drv/nix-hash-modulo/source-first.drv"), store: .nix)
        let intermediate = try Derivation(aterm: try DerivationFixtures.bytes("drv/nix-hash-modulo/intermediate-first.drv"), store: .nix)
        let sourcePath = try #require(intermediate.inputDerivations.keys.first)
        var hasher = DerivationHasher(store: .nix) { (path: StorePath) throws(FormatError) -> Derivation in
            guard path == sourcePath else { throw .unresolvedDerivation(path.baseName, reason: "unknown") }
            return source
        }
        #expect(try hasher.hashModulo(source, maskOutputs: true).base16 == "42cfa58bf5a281911b6c9471c67cf64f70a820b033415190db3da91710c5ff2c")
        #expect(try hasher.hashModulo(intermediate, maskOutputs: false).base16 == "6df335a6cafec6b08aa38163a4a3d1b8f04bc8dc10de4ad35d677f911f2d3b5a")
        // The masked preimage, once the env output variables are blanked as builtins.derivation does.
        let expected = try DerivationFixtures.bytes("drv/nix-hash-modulo/intermediate-first-modulo.drv")
        #expect(try hasher.moduloATerm(intermediate, maskOutputs: true) == expected)
        #expect(Hasher.hash(.sha256, expected).base16 == "9595af5bf277455d103fa72c7bdc30bc9efa894e4381a97df38a13cb9c77edfb")
        var emptyEnv = intermediate
        emptyEnv.env = [:]
        #expect(try hasher.hashModulo(emptyEnv, maskOutputs: true).base16 == "3b0a40b4c16586ccc2651e263e54f034e74d782e81b33f900319ae732c20343c")
    }

    /// Two different input derivations with the same hash and different wanted outputs are
    /// merged into one tuple with the union of the names (Nix's `parent-split` case).
    @Test func inputsWithEqualHashesAreMerged() throws {
        let intermediate = try Derivation(aterm: try DerivationFixtures.bytes("drv/nix-hash-modulo/intermediate-first.drv"), store: .nix)
        let source = try Derivation(aterm: try DerivationFixtures.bytes("drv/nix-hash-modulo/source-first.drv"), store: .nix)
        let first = try StorePath(baseName: "00000000000000000000000000000000-intermediate.drv")
        let second = try StorePath(baseName: "11111111111111111111111111111111-intermediate.drv")
        var hasher = DerivationHasher(store: .nix) { (path: StorePath) throws(FormatError) -> Derivation in
            path.name.hasSuffix("source.drv") ? source : intermediate
        }
        let parent = Derivation(
            outputs: ["out": .deferred], inputDerivations: [first: ["out"], second: ["dev"]],
            platform: "x86_64-linux", builder: Array("/bin/parent".utf8))
        let expected = try DerivationFixtures.bytes("drv/nix-hash-modulo/parent-split-modulo.drv")
        #expect(try hasher.moduloATerm(parent, maskOutputs: true) == expected)
    }
}
