import Foundation
import Glibc
import LinuxSystem
import Testing

/// `cloister nar dump` and `cloister hash -S nar` against Debian's nix-bin (`nix-store --dump`,
/// `nix-hash`), run as processes on random trees with symlinks, executables, empty directories
/// and non-UTF-8 names. Skipped only when nix-store is not installed.
@Suite("NAR against Nix 2.8", .tags(.large), .serialized,
       .enabled(if: access("/usr/bin/nix-store", X_OK) == 0, "nix-store is not installed (apt-get install nix-bin)"))
struct NARNixComparisonTests {
    /// The `cloister` executable beside this test bundle (the build directory), or from
    /// `swift build --show-bin-path`'s usual place under the repository.
    static var cloister: String? {
        var candidates: [String] = []
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            var dir = (exe as NSString).deletingLastPathComponent
            // …/debug/CloisterPackageTests.xctest or …/debug/X.xctest/…: walk up to a dir with `cloister`.
            while dir != "/" && !dir.isEmpty {
                candidates.append(dir + "/cloister")
                dir = (dir as NSString).deletingLastPathComponent
            }
        }
        candidates.append(NARTestVectorFiles.repository + "/.build/debug/cloister")
        return candidates.first { access($0, X_OK) == 0 }
    }

    /// Runs `command` through /bin/sh; returns (status, stdout).
    func shell(_ command: String) throws -> (Int32, Data) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, data)
    }

    @Test(arguments: 0..<6)
    func dumpAndHashMatchNix(seed: Int) throws {
        let cloister = try #require(Self.cloister, "cloister executable not found beside the tests; run `swift build` first")
        let temp = try TemporaryDirectory()
        var random = RandomTree(state: UInt64(seed) &+ 424_242)
        try temp.descriptor.makeDirectory(at: Array("tree".utf8))
        let tree = try temp.descriptor.openDirectory(at: "tree")
        try random.fill(tree, depth: 3, maxEntries: 8)
        try tree.makeDirectory(at: Array("empty".utf8) + [0xE9])  // Latin-1 é: not UTF-8
        try tree.makeSymlink(at: [0xFF, 0x01], target: [0xC3, 0x28])
        let path = temp.path + "/tree"
        let (ourStatus, _) = try shell("'\(cloister)' nar dump '\(path)' > '\(temp.path)/ours.nar'")
        let (nixStatus, _) = try shell("nix-store --dump '\(path)' > '\(temp.path)/nix.nar'")
        #expect(ourStatus == 0 && nixStatus == 0)
        let ours = try readFile(temp.path + "/ours.nar")
        let theirs = try readFile(temp.path + "/nix.nar")
        #expect(ours.count > 0)
        #expect(ours == theirs, "cloister nar dump differs from nix-store --dump (seed \(seed))")
        let (_, ourHash) = try shell("'\(cloister)' hash -S nar '\(path)'")
        let (_, nixHash) = try shell("nix-hash --type sha256 --base32 '\(path)'")
        #expect(ourHash.count == 53)
        #expect(String(decoding: ourHash, as: UTF8.self) == String(decoding: nixHash, as: UTF8.self))
    }

    @Test func restoreOfANixDumpDumpsIdentically() throws {
        let cloister = try #require(Self.cloister)
        let temp = try TemporaryDirectory()
        var random = RandomTree(state: 99)
        try temp.descriptor.makeDirectory(at: Array("tree".utf8))
        try random.fill(try temp.descriptor.openDirectory(at: "tree"), depth: 3)
        let (s1, _) = try shell("nix-store --dump '\(temp.path)/tree' > '\(temp.path)/nix.nar'")
        let (s2, _) = try shell("'\(cloister)' nar restore '\(temp.path)/copy' < '\(temp.path)/nix.nar'")
        let (s3, _) = try shell("nix-store --dump '\(temp.path)/copy' | cmp -s - '\(temp.path)/nix.nar'")
        #expect(s1 == 0 && s2 == 0 && s3 == 0)
        let (again, _) = try shell("'\(cloister)' nar restore '\(temp.path)/copy' < '\(temp.path)/nix.nar' 2>/dev/null")
        #expect(again == 1, "restore must refuse an existing directory")
    }
}
