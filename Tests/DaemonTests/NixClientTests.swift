import Testing
import Foundation
import Glibc

/// The daemon as a process, driven by Debian's Nix 2.8 client (`nix-store`) over a temp socket
/// with the store under a temp directory (NIX_STORE_DIR / GUIX_* point there).
@Suite(.serialized, .tags(.large), .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/nix-store")))
final class NixClientTests {
    var root: String { scratch.root }
    let scratch: TemporaryDaemon
    var daemon: Process { scratch.process }
    var environment: [String: String] { scratch.environment }

    init() throws {
        scratch = try TemporaryDaemon(label: "nix")
    }

    @discardableResult
    func run(_ arguments: [String], stdin: Data? = nil) throws -> (status: Int32, out: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = arguments
        p.environment = environment
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        if let stdin {
            let input = Pipe()
            p.standardInput = input
            try p.run()
            input.fileHandleForWriting.write(stdin)
            try input.fileHandleForWriting.close()
        } else {
            try p.run()
        }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    func file(_ name: String, _ text: String) throws -> String {
        let path = root + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func addQueryExportImport() throws {
        let hello = try file("hello.txt", "hello\n")
        let add = try run(["nix-store", "--add", hello])
        #expect(add.status == 0)
        // The same path Nix computes: fixed:r:sha256 of the NAR of "hello\n" under this store dir.
        #expect(add.out.hasSuffix("-hello.txt") && add.out.hasPrefix(root + "/store/"))
        #expect(try run(["nix-store", "-q", "--hash", add.out]).out == "sha256:04zwf782yjwnh3q6hz5izfd6jyip8kgw6g6yj43fiqhbyhdd0dqw")
        #expect(try run(["nix-store", "-q", "--size", add.out]).out == "120")
        #expect(try run(["nix-store", "-q", "--references", add.out]) == (0, ""))
        #expect(try run(["nix-store", "--check-validity", add.out]).status == 0)
        #expect(try run(["nix-store", "--check-validity", root + "/store/00000000000000000000000000000000-x"]).status != 0)

        let fixed = try run(["nix-store", "--add-fixed", "sha256", hello])
        #expect(fixed.status == 0 && fixed.out.hasSuffix("-hello.txt"))
        #expect(try run(["nix-store", "--check-validity", fixed.out]).status == 0)

        let export = Process()
        export.executableURL = URL(fileURLWithPath: "/usr/bin/nix-store")
        export.arguments = ["--export", add.out]
        export.environment = environment
        let pipe = Pipe()
        export.standardOutput = pipe
        try export.run()
        let archive = pipe.fileHandleForReading.readDataToEndOfFile()
        export.waitUntilExit()
        #expect(export.terminationStatus == 0 && archive.count > 120)
        let imported = try run(["nix-store", "--import"], stdin: archive)
        #expect(imported == (0, add.out))

        let all = try run(["nix", "--extra-experimental-features", "nix-command", "path-info", "--all"])
        #expect(all.status == 0 && all.out.contains(add.out) && all.out.contains(fixed.out))
    }

    @Test func addTreeAndOptimise() throws {
        try FileManager.default.createDirectory(atPath: root + "/tree/sub", withIntermediateDirectories: true)
        _ = try file("tree/sub/a", "a\n")
        try FileManager.default.createSymbolicLink(atPath: root + "/tree/l", withDestinationPath: "sub/a")
        let add = try run(["nix-store", "--add", root + "/tree"])
        #expect(add.status == 0 && add.out.hasSuffix("-tree"))
        #expect(FileManager.default.fileExists(atPath: add.out + "/sub/a"))
        #expect(try run(["nix-store", "--optimise"]).status == 0)
        // Nothing roots the tree: the daemon's collector lists it as dead (and deletes nothing).
        let dead = try run(["nix-store", "--gc", "--print-dead"])
        #expect(dead.status == 0 && dead.out.contains(add.out))
        #expect(try run(["nix-store", "--check-validity", add.out]).status == 0)
    }

    @Test func gcRootsVerifyAndDelete() throws {
        let keep = try run(["nix-store", "--add", try file("keep.txt", "keep\n")]).out
        let dead = try run(["nix-store", "--add", try file("dead.txt", "dead\n")]).out
        let instantiated = try run(["nix-instantiate", try file("d.nix", """
            derivation { name = "d"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo ${builtins.toFile "in.txt" "x"}" ]; }
            """)])
        #expect(instantiated.status == 0 && instantiated.out.hasSuffix("-d.drv"))
        #expect(try run(["nix-store", "-q", "--references", instantiated.out]).out.contains("-in.txt"))
        let input = try run(["nix-store", "-q", "--references", instantiated.out]).out
        #expect(try run(["nix-store", "-q", "--referrers", input]).out == instantiated.out)
        #expect(try run(["nix-store", "-q", "--requisites", instantiated.out]).out.split(separator: "\n").count == 2)
        // An indirect root (as `--add-root` makes) keeps `keep` alive.
        let link = root + "/keep-link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: keep)
        #expect(try run(["nix-store", "--add-root", link, "--indirect", "-r", keep]).status == 0)
        #expect(try run(["nix-store", "-q", "--roots", keep]).out.contains(link))
        let deadList = try run(["nix-store", "--gc", "--print-dead"])
        #expect(deadList.status == 0 && deadList.out.contains(dead) && !deadList.out.contains(keep))
        #expect(try run(["nix-store", "--gc", "--print-live"]).out.contains(keep))
        #expect(try run(["nix-store", "--delete", keep]).status != 0)          // still alive
        #expect(try run(["nix-store", "--delete", dead]).status == 0)
        #expect(try run(["nix-store", "--check-validity", dead]).status != 0)
        #expect(try run(["nix-store", "--verify", "--check-contents"]).status == 0)
        #expect(try run(["nix-store", "--gc"]).status == 0)
        #expect(try run(["nix-store", "--check-validity", keep]).status == 0)
        #expect(try run(["nix-store", "--check-validity", instantiated.out]).status != 0)   // no root: collected
    }
}
