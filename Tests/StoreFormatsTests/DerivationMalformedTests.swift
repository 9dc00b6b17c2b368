import StoreFormats
import Testing

/// One test per class of malformed `.drv` (security.md §3.3): each must fail with
/// `FormatError.invalidDerivation` at the byte offset where the input stops making sense.
@Suite(.tags(.small))
struct DerivationMalformedTests {
    /// A valid derivation (Nix 2.8's `built.drv`) to break in one place at a time.
    static let good = #"Derive([("out","/nix/store/jbzjdlczhy5nazj3d5ldki9ifmk3h6a1-built","","")],[("/nix/store/0hm2f1psjpcwg8fijsmr4wwxrx59s092-bar.drv",["out"])],["/nix/store/i00sflxqsj37lfmf95m8mn0grv615hpj-source"],"x86_64-linux","/bin/sh",["-c","echo hi > $out"],[("builder","/bin/sh"),("name","built"),("out","/nix/store/jbzjdlczhy5nazj3d5ldki9ifmk3h6a1-built"),("system","x86_64-linux")])"#
    static let fod = #"Derive([("out","/nix/store/4q0pg5zpfmznxscq3avycvf9xdvx50n3-bar","r:sha256","08813cbee9903c62be4c5027726a418a300da4500b2d369d3af9286f4815ceba")],[],[],":",":",[],[("out","/nix/store/4q0pg5zpfmznxscq3avycvf9xdvx50n3-bar")])"#

    struct Case: Sendable, CustomTestStringConvertible {
        let label: String
        let text: String
        /// The offset is where `marker` starts in `text` (plus `shift`), or the text's end.
        let marker: String?
        var shift = 0
        var store = StoreDirectory.nix
        var limits = ATermLimits.default
        var testDescription: String { label }

        var expectedOffset: Int {
            let bytes = Array(text.utf8)
            guard let marker else { return bytes.count }
            let m = Array(marker.utf8)
            let index = bytes.indices.first { bytes[$0...].starts(with: m) } ?? -1_000_000
            return index + shift
        }
    }

    static func replacing(_ base: String, _ old: String, _ new: String) -> String {
        guard let range = base.range(of: old) else { return "missing \(old)" }
        return base.replacingCharacters(in: range, with: new)
    }

    static let cases: [Case] = [
        Case(label: "not Derive(", text: "Derivx" + good.dropFirst(6), marker: "x([("),
        Case(label: "empty input", text: "", marker: nil),
        Case(label: "unterminated string", text: #"Derive([("out"#, marker: #""out"#),
        Case(label: "escape at end of input", text: #"Derive([("out","","","")],[],[],"x","/bin/sh",["a\"#, marker: #"\"#),
        Case(label: "unknown escape", text: replacing(good, "echo hi", #"echo\ahi"#), marker: #"\a"#),
        Case(label: "raw newline in a string", text: replacing(good, "echo hi", "echo\nhi"), marker: "\nhi"),
        Case(label: "escape in a field never escaped", text: replacing(good, "x86_64-linux\",\"/bin", "x86\\t64-linux\",\"/bin"), marker: #"\t64"#),
        Case(label: "output tuple with 3 fields", text: replacing(good, #"-built","","")"#, #"-built","")"#), marker: #")],[("/nix"#),
        Case(label: "output tuple with 5 fields", text: replacing(good, #"-built","","")"#, #"-built","","","")"#), marker: #","")],[("/nix"#),
        Case(label: "env tuple with 1 field", text: replacing(good, #"("name","built")"#, #"("name")"#), marker: #"("name")"#, shift: 7),
        Case(label: "input derivation tuple with 3 fields", text: replacing(good, #"["out"])"#, #"["out"],"x")"#), marker: #","x")"#),
        Case(label: "Derive with 8 fields", text: String(good.dropLast()) + #","extra")"#, marker: #","extra")"#),
        Case(label: "missing closing parenthesis", text: String(good.dropLast()), marker: nil),
        Case(label: "trailing bytes", text: good + "\n", marker: "\n"),
        Case(label: "unsorted env keys", text: replacing(good, #"("builder","/bin/sh"),("name","built")"#, #"("name","built"),("builder","/bin/sh")"#), marker: #""builder","/bin/sh"),("out""#),
        Case(label: "duplicate env key", text: replacing(good, #"("name","built")"#, #"("name","built"),("name","built")"#), marker: #""name","built"),("out""#),
        Case(label: "unsorted outputs", text: replacing(good, #"[("out","/nix/store/jbzjdlczhy5nazj3d5ldki9ifmk3h6a1-built","","")]"#, #"[("out","/nix/store/jbzjdlczhy5nazj3d5ldki9ifmk3h6a1-built","",""),("dev","/nix/store/jbzjdlczhy5nazj3d5ldki9ifmk3h6a1-built-dev","","")]"#), marker: #""dev""#),
        Case(label: "duplicate outputs", text: replacing(good, #"[("out","/nix/store/jbzjdlczhy5nazj3d5ldki9ifmk3h6a1-built","","")]"#, #"[("out","/nix/store/jbzjdlczhy5nazj3d5ldki9ifmk3h6a1-built","",""),("out","/nix/store/jbzjdlczhy5nazj3d5ldki9ifmk3h6a1-built","","")]"#), marker: #""out","/nix/store/jbzjdlczhy5nazj3d5ldki9ifmk3h6a1-built","","")],"#),
        Case(label: "unsorted input derivations", text: replacing(good, #"[("/nix/store/0hm2f1psjpcwg8fijsmr4wwxrx59s092-bar.drv",["out"])]"#, #"[("/nix/store/1hm2f1psjpcwg8fijsmr4wwxrx59s092-bar.drv",["out"]),("/nix/store/0hm2f1psjpcwg8fijsmr4wwxrx59s092-bar.drv",["out"])]"#), marker: #""/nix/store/0hm2"#),
        Case(label: "unsorted wanted outputs", text: replacing(good, #"["out"])"#, #"["out","dev"])"#), marker: #""dev""#),
        Case(label: "duplicate input sources", text: replacing(good, #"["/nix/store/i00sflxqsj37lfmf95m8mn0grv615hpj-source"]"#, #"["/nix/store/i00sflxqsj37lfmf95m8mn0grv615hpj-source","/nix/store/i00sflxqsj37lfmf95m8mn0grv615hpj-source"]"#), marker: #""/nix/store/i00sflxqsj37lfmf95m8mn0grv615hpj-source"]"#),
        Case(label: "input source not absolute", text: replacing(good, #""/nix/store/i00sf"#, #""nix/store/i00sf"#), marker: #""nix/store/i00sf"#),
        Case(label: "path in another store directory", text: good, marker: #""/nix/store/jbzj"#, store: .guix),
        Case(label: "hash part not nix32", text: replacing(good, "i00sflxqsj37", "i00sflxqsj3e"), marker: #""/nix/store/i00sflxqsj3e"#),
        Case(label: "output path not a store path", text: replacing(good, #""/nix/store/jbzjdlczhy5nazj3d5ldki9ifmk3h6a1-built","""#, #""/bin/sh","""#), marker: #""/bin/sh","""#),
        Case(label: "input derivation not a .drv", text: replacing(good, "bar.drv", "bar.drx"), marker: #""/nix/store/0hm2"#),
        Case(label: "fixed-output hash too short", text: replacing(fod, "ceba\"", "ceb\""), marker: #""08813"#),
        Case(label: "fixed-output hash not lowercase", text: replacing(fod, "ceba\"", "CEBA\""), marker: #""08813"#),
        Case(label: "fixed-output sha1 with a sha256 digest", text: replacing(fod, "r:sha256", "r:sha1"), marker: #""08813"#),
        Case(label: "unknown hash algorithm", text: replacing(fod, "r:sha256", "r:sha3"), marker: #""r:sha3""#),
        Case(label: "hash without hashAlgo", text: replacing(fod, "r:sha256", ""), marker: #""08813"#),
        Case(label: "fixed output not named out", text: replacing(fod, #"("out","/nix"#, #"("src","/nix"#), marker: #""src""#),
        Case(label: "fixed-output derivation with two outputs", text: replacing(fod, #"ceba")]"#, #"ceba"),("zzz","/nix/store/4q0pg5zpfmznxscq3avycvf9xdvx50n3-bar-zzz","","")]"#), marker: #"("zzz""#),
        Case(label: "no outputs", text: replacing(fod, #"[("out","/nix/store/4q0pg5zpfmznxscq3avycvf9xdvx50n3-bar","r:sha256","08813cbee9903c62be4c5027726a418a300da4500b2d369d3af9286f4815ceba")]"#, "[]"), marker: "[]"),
        Case(label: "input derivation wanting no outputs", text: replacing(good, #"["out"])"#, "[])"), marker: "[])"),
        Case(label: "list element count over the limit", text: good, marker: #","echo hi"#, shift: 1, limits: ATermLimits(maxListElements: 1)),
        Case(label: "string over the limit", text: good, marker: #""/nix/store/jbzj"#, limits: ATermLimits(maxStringBytes: 40)),
        Case(label: "file over the limit", text: good, marker: #"ive("#, limits: ATermLimits(maxBytes: 3)),
        Case(label: "non-UTF-8 platform", text: replacing(good, "x86_64-linux\",\"/bin", "x86_64-l\u{e9}nux\",\"/bin"), marker: #""x86_64-l"#),
    ]

    @Test(arguments: cases)
    func rejected(_ c: Case) {
        var bytes = Array(c.text.utf8)
        if c.label == "non-UTF-8 platform" {
            // Replace the two-byte é with a lone latin-1 byte.
            if let i = bytes.indices.first(where: { bytes[$0] == 0xC3 }) { bytes.replaceSubrange(i...i + 1, with: [0xE9]) }
        }
        do {
            let derivation = try Derivation(aterm: bytes, store: c.store, limits: c.limits)
            Issue.record("accepted: \(derivation)")
        } catch {
            guard case .invalidDerivation(let offset, let reason) = error else {
                Issue.record("wrong error \(error)")
                return
            }
            #expect(offset == c.expectedOffset, "\(reason)")
            #expect(!reason.isEmpty)
        }
    }

    @Test func theBaseCasesAreValid() throws {
        let derivation = try Derivation(aterm: Array(Self.good.utf8), store: .nix)
        #expect(derivation.render(in: .nix) == Array(Self.good.utf8))
        let fixed = try Derivation(aterm: Array(Self.fod.utf8), store: .nix)
        #expect(fixed.fixedOutput?.method == .recursive)
        #expect(fixed.fixedOutput?.hash.algorithm == .sha256)
    }

    /// The experimental kinds parse and render faithfully but a daemon's check refuses them.
    @Test func experimentalOutputKindsRoundTripButAreRefused() throws {
        let text = #"Derive([("a","","",""),("b","","r:sha256",""),("c","","sha1","impure")],[],[],"x86_64-linux","/bin/sh",[],[])"#
        let derivation = try Derivation(aterm: Array(text.utf8), store: .nix)
        #expect(derivation.render(in: .nix) == Array(text.utf8))
        #expect(derivation.outputs["a"] == .deferred)
        #expect(derivation.outputs["b"] == .floating(method: .recursive, algorithm: .sha256))
        #expect(derivation.outputs["c"] == .impure(method: .flat, algorithm: .sha1))
        var hasher = DerivationHasher(store: .nix)
        #expect(throws: FormatError.invalidDerivationOutput("a", reason: "deferred outputs are not supported")) {
            try derivation.checkOutputs(name: "x", hasher: &hasher)
        }
    }

    @Test func wrongOutputPathIsRefusedByTheCheck() throws {
        let text = Self.good.replacingOccurrences(of: "jbzjdlczhy5nazj3d5ldki9ifmk3h6a1-built\",\"\"", with: "jbzjdlczhy5nazj3d5ldki9ifmk3h6a0-built\",\"\"")
        let derivation = try Derivation(aterm: Array(text.utf8), store: .nix)
        var hasher = DerivationHasher(store: .nix, resolve: DerivationFixtures.resolver())
        #expect(throws: FormatError.self) { try derivation.checkOutputs(name: "built", hasher: &hasher) }
        // A fixed output whose env variable disagrees with its path.
        let fod = Self.fod.replacingOccurrences(of: "(\"out\",\"/nix/store/4q0pg5zpfmznxscq3avycvf9xdvx50n3-bar\")]", with: "(\"out\",\"/nix/store/4q0pg5zpfmznxscq3avycvf9xdvx50n3-baz\")]")
        let fixed = try Derivation(aterm: Array(fod.utf8), store: .nix)
        #expect(throws: FormatError.invalidDerivationOutput("out", reason: "environment variable 'out' does not hold /nix/store/4q0pg5zpfmznxscq3avycvf9xdvx50n3-bar")) {
            try fixed.checkOutputs(name: "bar", hasher: &hasher)
        }
    }

    @Test func resolverCyclesEndInAnError() throws {
        let cyclic = try StorePath(baseName: "00000000000000000000000000000000-loop.drv")
        let loop = Derivation(outputs: ["out": .deferred], inputDerivations: [cyclic: ["out"]], platform: "x", builder: [])
        var hasher = DerivationHasher(store: .nix) { (_: StorePath) throws(FormatError) -> Derivation in loop }
        hasher.maxDepth = 50
        #expect(throws: FormatError.self) { try hasher.hashModulo(loop, maskOutputs: true) }
    }
}
