import Foundation
import StoreFormats
import Testing

/// Debian's Nix 2.8 `nix-instantiate`, pointed at `/gnu/store` and a throw-away chroot store
/// (`--store local?root=…`, no daemon), writes `.drv` files; the same derivations built here
/// must have the same bytes and paths.
@Suite(.tags(.large), .serialized, .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/nix-instantiate")))
struct DerivationNixInstantiateTests {
    static let expression = #"""
        let
          fetched = builtins.derivation {
            name = "fetched"; builder = "/bin/sh"; system = "x86_64-linux";
            outputHashMode = "flat"; outputHashAlgo = "sha1";
            outputHash = "0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33";
          };
        in builtins.derivation {
          name = "x"; builder = "/bin/sh"; system = "x86_64-linux";
          args = [ "-c" "echo \"hi\"\t\\ > $out\n\r" ];
          outputs = [ "out" "doc" ];
          src = fetched;
        }
        """#

    /// What `builtins.derivation` makes of the expression above: every attribute but `args`
    /// in env, output variables filled in after hashing.
    static func expected(_ hasher: inout DerivationHasher) throws -> (fetched: Derivation, x: Derivation) {
        let sha1 = try Hash(parsing: "0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33", algorithm: .sha1)
        var fetched = Derivation(
            outputs: ["out": .fixed(try StorePath(baseName: "00000000000000000000000000000000-fetched"), method: .flat, hash: sha1)],
            platform: "x86_64-linux", builder: Array("/bin/sh".utf8),
            env: Self.env(["builder": "/bin/sh", "name": "fetched", "system": "x86_64-linux", "outputHash": sha1.base16, "outputHashAlgo": "sha1", "outputHashMode": "flat"]))
        try fetched.fillInOutputPaths(name: "fetched", hasher: &hasher)
        let fetchedPath = try fetched.path(name: "fetched", in: .guix)
        let placeholder = DerivationOutput.deferred
        var x = Derivation(
            outputs: ["out": placeholder, "doc": placeholder], inputDerivations: [fetchedPath: ["out"]],
            platform: "x86_64-linux", builder: Array("/bin/sh".utf8),
            args: [Array("-c".utf8), Array("echo \"hi\"\t\\ > $out\n\r".utf8)],
            env: Self.env(["builder": "/bin/sh", "name": "x", "system": "x86_64-linux", "outputs": "out doc",
                           "src": fetched.outputs["out"]?.path?.absolute(in: .guix) ?? ""]))
        for name in ["out", "doc"] { x.outputs[name] = .inputAddressed(fetchedPath) }
        try x.fillInOutputPaths(name: "x", hasher: &hasher)
        return (fetched, x)
    }

    static func env(_ pairs: [String: String]) -> [[UInt8]: [UInt8]] {
        Dictionary(uniqueKeysWithValues: pairs.map { (Array($0.key.utf8), Array($0.value.utf8)) })
    }

    /// Runs `tool` with `arguments` in a Nix environment rooted in `temp`; (status, stdout).
    static func run(_ tool: String, _ arguments: [String], temp: URL, extra: [String: String] = [:]) throws -> (Int32, Data) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.environment = [
            "NIX_STORE_DIR": "/gnu/store", "NIX_STATE_DIR": "\(temp.path)/state", "NIX_LOG_DIR": "\(temp.path)/log",
            "NIX_CONF_DIR": temp.path, "HOME": temp.path, "PATH": "/usr/bin:/bin",
        ].merging(extra) { $1 }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let stdout = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, stdout)
    }

    static func temporaryDirectory() throws -> URL {
        let temp = FileManager.default.temporaryDirectory.appendingPathComponent("cloister-drv-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: temp, withIntermediateDirectories: true)
        try expression.write(to: temp.appendingPathComponent("x.nix"), atomically: true, encoding: .utf8)
        return temp
    }

    /// The `cloister` executable of this build (beside the test bundle), if built.
    static var cloister: String? {
        guard var dir = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
        while dir != "/" && !dir.isEmpty {
            dir = (dir as NSString).deletingLastPathComponent
            if FileManager.default.isExecutableFile(atPath: dir + "/cloister") { return dir + "/cloister" }
        }
        return nil
    }

    @Test func sameBytesAndPathsAsNix28() throws {
        let temp = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: temp) }
        let (status, stdout) = try Self.run("/usr/bin/nix-instantiate", ["--store", "local?root=\(temp.path)/root", temp.path + "/x.nix"], temp: temp)
        try #require(status == 0)
        let drvPathText = String(decoding: stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let drvPath = try StorePath(parsing: drvPathText, in: .guix)

        // The chroot store keeps its files under <root>/nix/store whatever NIX_STORE_DIR says.
        func written(_ path: StorePath) throws -> [UInt8] {
            for folder in ["nix/store", "gnu/store"] {
                if let data = FileManager.default.contents(atPath: "\(temp.path)/root/\(folder)/\(path.baseName)") { return [UInt8](data) }
            }
            throw FormatError.unresolvedDerivation(path.baseName, reason: "nix-instantiate wrote no such file")
        }

        var hasher = DerivationHasher(store: .guix) { (path: StorePath) throws(FormatError) -> Derivation in
            guard let bytes = try? written(path) else { throw .unresolvedDerivation(path.baseName, reason: "missing") }
            return try Derivation(aterm: bytes, store: .guix)
        }
        let (fetched, x) = try Self.expected(&hasher)
        #expect(try x.path(name: "x", in: .guix) == drvPath)
        let nixBytes = try written(drvPath)
        #expect(x.render(in: .guix) == nixBytes)
        let fetchedPath = try fetched.path(name: "fetched", in: .guix)
        #expect(fetched.render(in: .guix) == (try written(fetchedPath)))

        let parsed = try Derivation(aterm: nixBytes, store: .guix)
        #expect(parsed.render(in: .guix) == nixBytes)
        try parsed.checkOutputs(name: "x", hasher: &hasher)
    }

    /// `cloister derivation show -r` prints the same bytes as Nix 2.8's `nix show-derivation -r`.
    @Test(.enabled(if: DerivationNixInstantiateTests.cloister != nil && FileManager.default.isExecutableFile(atPath: "/usr/bin/nix")))
    func showMatchesNixShowDerivation() throws {
        let cloister = try #require(Self.cloister)
        let temp = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: temp) }
        let store = "local?root=\(temp.path)/root"
        let (status, stdout) = try Self.run("/usr/bin/nix-instantiate", ["--store", store, temp.path + "/x.nix"], temp: temp)
        try #require(status == 0)
        let drvPath = String(decoding: stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let (nixStatus, nixJSON) = try Self.run("/usr/bin/nix", ["--extra-experimental-features", "nix-command", "show-derivation", "-r", "--store", store, drvPath], temp: temp)
        try #require(nixStatus == 0)
        let file = "\(temp.path)/root/nix/store/" + (drvPath as NSString).lastPathComponent
        let (ourStatus, ourJSON) = try Self.run(cloister, ["derivation", "show", "-r", file], temp: temp)
        #expect(ourStatus == 0)
        #expect(String(decoding: ourJSON, as: UTF8.self) == String(decoding: nixJSON, as: UTF8.self))

        // Latin-1 bytes come out as their characters, in valid JSON.
        let latin1 = DerivationFixtures.vectors + "/drv/x6p0hg79i3wg0kkv7699935f7rrj9jf3-latin1.drv"
        let (latinStatus, latinJSON) = try Self.run(cloister, ["derivation", "show", latin1], temp: temp, extra: ["NIX_STORE_DIR": "/nix/store"])
        #expect(latinStatus == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: latinJSON) as? [String: [String: Any]])
        let env = try #require(object["/nix/store/x6p0hg79i3wg0kkv7699935f7rrj9jf3-latin1.drv"]?["env"] as? [String: String])
        #expect(env["chars"] == "ÅÄÖ")
    }
}
