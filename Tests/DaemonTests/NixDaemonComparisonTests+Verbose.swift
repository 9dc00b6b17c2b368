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
        let loud3 = try step(["nix-store", "--add-fixed", "-v", "sha256", inputs + "/loud3.txt"])
        try step(["nix-store", "--add-fixed", "--recursive", "-vv", "sha256", inputs + "/tree3"])

        // The quiet session's other steps, talkative: queries, instantiate, roots, dumps.
        let drv = try step(["nix-instantiate", "-v", inputs + "/d.nix"])
        for query in ["--references", "--referrers", "--requisites", "--size", "--deriver", "--tree", "--outputs"] {
            try step(["nix-store", "-q", query, "-v"], drv)
        }
        let input = try step(["nix-store", "-q", "--references"], drv)
        try step(["nix-store", "-q", "--hash", "-v"], loud)
        try step(["nix-store", "-q", "--referrers-closure", "-vv"], input)
        try step(["nix-store", "--check-validity", "-v"], loud)
        try step(["nix-store", "--check-validity", "-v", "@ROOT@/store/00000000000000000000000000000000-x"])
        try step(["nix-store", "--dump", "-v"], loud)
        try step(["nix-store", "--verify-path", "-v"], loud)
        let nix = ["nix", "--extra-experimental-features", "nix-command"]
        try step(nix + ["path-info", "--json", "-v"], drv)
        try step(nix + ["path-info", "-sS", "--all", "-vv"])
        try step(nix + ["store", "verify", "--all", "-v"])
        try step(["nix-store", "--add-root", "@ROOT@-client/loud3-link", "--indirect", "-r", "-v"], loud3)
        try step(["nix-store", "-q", "--roots", "-v"], loud3)
        try step(["nix-store", "--gc", "--print-roots", "-vv"])
        // The derivation and its input are small files: gone before the optimise, so both
        // daemons' `.links` hold the same entries.
        try step(["nix-store", "--delete", "-v"], drv)
        try step(["nix-store", "--delete", "-vv"], input)

        // Export, delete, import back (new), import again (valid already).
        var archives: [Data] = []
        var exportErrors: [[String]] = []
        for (index, side) in sides.enumerated() {
            let r = try run(side, ["nix-store", "--export", "-v", loud[index]])
            archives.append(r.out)
            exportErrors.append(normalise(r.err, side))
        }
        #expect(exportErrors[0] == exportErrors[1], "nix-store --export -v")
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
