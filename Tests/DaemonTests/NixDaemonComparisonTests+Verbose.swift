import Testing
import Foundation
import Glibc

/// The same side-by-side session at the client's higher verbosities: `-v` (SetOptions
/// verbosity 4, talkative) and `-vv` (5, chatty). nix-daemon sends its per-item lines there
/// (which path it checks, links, deletes, adds); Cloister must send the same lines at the same
/// levels, and none a client's verbosity excludes. Normalised as the quiet session is (store
/// paths by name, the sides' roots as ROOT, lines sorted), nothing else.
extension NixDaemonComparisonTests {
    @Test func verboseClientsSeeTheSameLines() throws {
        // Every file above guix-daemon's deduplication threshold (8 KiB), so both daemons'
        // `.links` hold the same entries and their per-link lines match (nix-daemon links
        // every file and symlink; the policy difference is by design).
        for name in ["loud1", "loud2", "loud3"] {
            try String(repeating: name, count: 3_000).write(toFile: inputs + "/\(name).txt", atomically: true, encoding: .utf8)
        }
        for copy in ["tree3", "tree4"] {
            try FileManager.default.createDirectory(atPath: inputs + "/\(copy)/sub", withIntermediateDirectories: true)
            try String(repeating: "b", count: 20_000).write(toFile: inputs + "/\(copy)/sub/b", atomically: true, encoding: .utf8)
        }
        let loud = try step(["nix-store", "--add", "-v", inputs + "/loud1.txt"])
        try step(["nix-store", "--add", "-vv", inputs + "/loud2.txt"])
        try step(["nix-store", "--add", "-vv", inputs + "/loud1.txt"])  // valid already
        try step(["nix-store", "--add-fixed", "-v", "sha256", inputs + "/loud3.txt"])
        try step(["nix-store", "--add-fixed", "--recursive", "-vv", "sha256", inputs + "/tree3"])

        // Export, delete, import back (new), import again (valid already).
        var archives: [Data] = []
        for (index, side) in sides.enumerated() { archives.append(try run(side, ["nix-store", "--export", loud[index]]).out) }
        try step(["nix-store", "--delete", "-v"], loud)
        try step(["nix-store", "--import", "-v"], stdin: archives)
        try step(["nix-store", "--import", "-vv"], stdin: archives)

        try step(["nix-store", "--verify", "-v"])
        try step(["nix-store", "--verify", "--check-contents", "-v"])
        try step(["nix-store", "--verify", "--check-contents", "-vv"])
        try step(["nix-store", "--optimise", "-vv"])  // each file becomes a `.links` entry
        // A copy of tree3's file: the second optimise links it to tree3's entry. (With both
        // copies new, which one is linked would follow the order of their hash parts, which
        // differ between the sides.)
        try step(["nix-store", "--add", "-v", inputs + "/tree4"])
        try step(["nix-store", "--optimise", "-v"])
        try step(["nix-store", "--verify", "--check-contents", "-v"])  // now with `.links` entries
        try step(["nix-store", "--verify", "--check-contents"])

        try step(["nix-store", "--gc", "--print-dead", "-v"])
        try step(["nix-store", "--gc", "--print-live", "-vv"])
        try step(["nix-store", "--delete", "-vv"], loud)
        try step(["nix-store", "--delete", "-v", "@ROOT@/store/00000000000000000000000000000000-gone"])
        try step(["nix-store", "--gc", "-v"])
        try step(["nix-store", "--add", inputs + "/loud2.txt"])
        try step(["nix-store", "--gc", "-vv"])
    }
}
