import Foundation
import Testing
import StoreFormats

/// `cloister store-path` against Debian's Nix 2.8 in a chroot store (`--store local?root=…`,
/// no daemon, no root): the same text, source and fixed-output paths, under /gnu/store and
/// /nix/store alike (NIX_STORE_DIR sets the store directory for both tools).
@Suite(.tags(.large), .serialized,
       .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/nix-store")
                    && DerivationNixInstantiateTests.cloister != nil))
struct StorePathCommandTests {
    /// Runs `tool`; (status, trimmed stdout).
    static func run(_ tool: String, _ arguments: [String], temp: URL, storeDirectory: String) throws -> (Int32, String) {
        let (status, data) = try DerivationNixInstantiateTests.run(tool, arguments, temp: temp, extra: ["NIX_STORE_DIR": storeDirectory])
        return (status, String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    @Test(arguments: ["/gnu/store", "/nix/store"])
    func samePathsAsNix28(storeDirectory: String) throws {
        let cloister = try #require(DerivationNixInstantiateTests.cloister)
        let temp = FileManager.default.temporaryDirectory.appendingPathComponent("cloister-sp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: temp.appendingPathComponent("tree/sub"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: temp) }
        let hello = temp.appendingPathComponent("hello").path
        try Data("hello".utf8).write(to: URL(fileURLWithPath: hello))
        let tree = temp.appendingPathComponent("tree").path
        try Data("#!/bin/sh\n".utf8).write(to: URL(fileURLWithPath: tree + "/run"))
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: tree + "/run")
        try FileManager.default.createSymbolicLink(atPath: tree + "/sub/link", withDestinationPath: "../run")
        let store = "local?root=\(temp.path)/root"

        func nix(_ tool: String, _ arguments: [String]) throws -> String {
            let (status, out) = try Self.run("/usr/bin/" + tool, ["--store", store] + arguments, temp: temp, storeDirectory: storeDirectory)
            try #require(status == 0, "\(tool) \(arguments)")
            return out.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        func ours(_ arguments: [String]) throws -> String {
            let (status, out) = try Self.run(cloister, ["store-path"] + arguments, temp: temp, storeDirectory: storeDirectory)
            #expect(status == 0, "\(arguments)")
            return out
        }

        // Source objects: a file and a tree, by path and by a precomputed NAR hash.
        let helloSource = try nix("nix-store", ["--add", hello])
        #expect(try ours(["--source", "hello", hello]) == helloSource)
        #expect(try ours(["--source", "hello", "--hash", "sha256:0sg9f58l1jj88w6pdrfdpj5x9b1zrwszk84j81zvby36q9whhhqa"]) == helloSource)
        #expect(try ours(["--source", "tree", tree]) == (try nix("nix-store", ["--add", tree])))

        // Fixed outputs: flat SHA-256 and recursive SHA-1.
        let flat = Hasher.hash(.sha256, "hello")
        #expect(try ours(["--fixed", "--hash", flat.prefixedBase16, "hello"]) == (try nix("nix-store", ["--add-fixed", "sha256", hello])))
        let treeSHA1 = try nix("nix-hash", ["--type", "sha1", tree])
        #expect(try ours(["--fixed", "--recursive", "--hash", "sha1:" + treeSHA1, "tree"])
                == (try nix("nix-store", ["--add-fixed", "--recursive", "sha1", tree])))

        // Text objects, with and without a reference.
        let foo = try nix("nix-instantiate", ["--eval", "-E", #"builtins.toFile "foo" "bar""#])
        let bar = temp.appendingPathComponent("bar").path
        try Data("bar".utf8).write(to: URL(fileURLWithPath: bar))
        #expect(try ours(["--text", "foo", bar]) == foo)
        let baz = try nix("nix-instantiate", ["--eval", "-E", #"builtins.toFile "baz" "${builtins.toFile "foo" "bar"}""#])
        let bazFile = temp.appendingPathComponent("baz").path
        try Data(foo.utf8).write(to: URL(fileURLWithPath: bazFile))
        #expect(try ours(["--text", "baz", bazFile, "--ref", foo]) == baz)
    }

    @Test func errorsAreOneLine() throws {
        let cloister = try #require(DerivationNixInstantiateTests.cloister)
        for arguments in [["--fixed", "--hash", "sha256:xyz", "foo"], ["--text", "x"], [], ["--source", "x", "/nonexistent/x"],
                          ["--fixed", "--hash", "sha256:0sg9f58l1jj88w6pdrfdpj5x9b1zrwszk84j81zvby36q9whhhqa", ".hidden"]] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: cloister)
            process.arguments = ["store-path"] + arguments
            process.environment = ["NIX_STORE_DIR": "/gnu/store", "PATH": "/usr/bin:/bin"]
            let output = Pipe(), errors = Pipe()
            process.standardOutput = output
            process.standardError = errors
            try process.run()
            let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let stdout = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            #expect(process.terminationStatus == 1, "\(arguments)")
            #expect(stdout.isEmpty)
            #expect(stderr.hasPrefix("cloister: store-path: ") && stderr.hasSuffix("\n"), "\(stderr)")
            #expect(stderr.filter { $0 == "\n" }.count == 1, "\(stderr)")
            #expect(!stderr.contains("FormatError"), "\(stderr)")
        }
    }
}
