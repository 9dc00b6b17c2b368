import Testing
import Glibc
import StoreFormats
@testable import LocalStore

@Suite(.tags(.medium)) struct VerifyTests {
    @Test func checkContentsFindsModifiedPathsAndRepairFixesMetadata() throws {
        let t = try TestStore()
        let store = try t.open()
        let good = try store.addTextToStore(name: "good", contents: Array("good".utf8))
        let bad = try store.addTextToStore(name: "bad", contents: Array("bad".utf8))
        let tree = try store.addToStore(nar: ByteArraySource(try sampleTreeNAR()), name: "tree", method: .recursive)
        let s = store.storeDirectory
        #expect(try store.verifyStore(checkContents: true, repair: false).problems.isEmpty)

        shell("chmod u+w '\(bad.absolute(in: s))' && echo tampered > '\(bad.absolute(in: s))'")
        shell("chmod u+w '\(tree.absolute(in: s))/share' && chmod 755 '\(tree.absolute(in: s))/share' && touch '\(tree.absolute(in: s))/share'")
        let result = try store.verifyStore(checkContents: true, repair: true)
        #expect(result.modifiedPaths == [bad])
        #expect(result.problems.contains { $0.message(.guix).hasPrefix("path `\(bad.absolute(in: s))' was modified! expected hash `") })
        #expect(result.repairedPaths.contains(tree))
        #expect(statPath(tree.absolute(in: s) + "/share")!.st_mode & 0o7777 == 0o555)
        #expect(statPath(tree.absolute(in: s) + "/share")!.st_mtim.tv_sec == 1)
        // The database keeps the original hash: corruption is reported, not blessed.
        #expect(try store.queryPathInfo(bad)?.narHash == Hasher.hash(.sha256, NAR.regularFile(Array("bad".utf8))))
        // Repair locked each path; no `.lock` file stays behind.
        #expect(shell("ls -A '\(t.root)/store' | grep '\\.lock$'") == nil)
        _ = good
    }

    /// Nix 2.8 hashes each `.links` entry against its name (guix-daemon does not): a modified
    /// one is an error, removed by repair; the checks are kept in order, each with how many
    /// findings came before it, only when asked for.
    @Test func linksAreCheckedAgainstTheirNames() throws {
        let t = try TestStore()
        let store = try t.open()
        let text = try store.addTextToStore(name: "text", contents: Array("text".utf8))
        let name = String(repeating: "0", count: 52)
        shell("mkdir -p '\(t.root)/store/.links' && printf x > '\(t.root)/store/.links/\(name)'")
        let linkPath = t.root + "/store/.links/" + name
        let actual = Hasher.hash(.sha256, NAR.regularFile(Array("x".utf8))).nix32

        #expect(try store.verifyStore(checkContents: true, repair: false).problems.isEmpty, "guix-daemon checks no links")
        let quiet = try store.verifyStore(checkContents: true, repair: false, checkLinks: true)
        #expect(quiet.problems == [.modifiedLink(linkPath, expected: name, actual: actual)])
        #expect(quiet.modifiedLinks == [Array(name.utf8)] && quiet.checks.isEmpty)
        #expect(quiet.problems[0].message(.nix) == "link '\(linkPath)' was modified! expected hash '\(name)', got '\(actual)'")

        let recorded = try store.verifyStore(checkContents: true, repair: true, checkLinks: true, recordChecks: true)
        #expect(recorded.problems == [.modifiedLink(linkPath, expected: name, actual: actual), .removedLink(linkPath)])
        #expect(recorded.modifiedLinks.isEmpty)
        #expect(recorded.checks == [VerifyCheck(subject: .link(Array(name.utf8)), problemsBefore: 0),
                                    VerifyCheck(subject: .path(text), problemsBefore: 2)])
        #expect(access(linkPath, F_OK) != 0)
        #expect(try store.verifyStore(checkContents: false, repair: false, checkLinks: true, recordChecks: true).checks.isEmpty,
                "nothing is hashed without checkContents")
    }

    @Test func missingPathsWithoutReferrersAreInvalidated() throws {
        let t = try TestStore()
        let store = try t.open()
        let lib = try store.addTextToStore(name: "lib", contents: Array("lib".utf8))
        let app = try store.addTextToStore(name: "app", contents: Array(lib.absolute(in: store.storeDirectory).utf8), references: [lib])
        shell("rm -f '\(lib.absolute(in: store.storeDirectory))' '\(app.absolute(in: store.storeDirectory))'")
        let result = try store.verifyStore(checkContents: false, repair: false)
        #expect(try !store.isValidPath(app))
        // lib still had a valid referrer when it was looked at (paths are checked in order).
        #expect(result.problems.count == 2)
    }
}

/// The `cloister gc` command, run as a process on a private store.
@Suite(.tags(.large), .serialized) struct GCCommandTests {
    static var binary: String? {
        var dir = #filePath
        while !dir.isEmpty && access(dir + "/Package.swift", F_OK) != 0 {
            dir = String(dir[..<(dir.lastIndex(of: "/") ?? dir.startIndex)])
        }
        let path = dir + "/.build/debug/cloister"
        return access(path, X_OK) == 0 ? path : nil
    }

    @Test(.enabled(if: binary != nil)) func gcLikeGuix() throws {
        let t = try TestStore()
        let (lib, app, junk) = try t.populate { store in
            let lib = try store.addTextToStore(name: "lib", contents: Array("lib".utf8))
            let app = try store.addTextToStore(name: "app", contents: Array(lib.absolute(in: store.storeDirectory).utf8), references: [lib])
            return (lib, app, try store.addTextToStore(name: "junk", contents: Array("junk".utf8)))
        }
        let s = t.layout.storeDirectory
        symlink(app.absolute(in: s), t.root + "/state/gcroots/app")
        let env = t.environment.map { "\($0.key)='\($0.value)'" }.joined(separator: " ")
        let gc = "env \(env) '\(Self.binary!)' gc"
        #expect(shell("\(gc) --references \(app.absolute(in: s))") == lib.absolute(in: s) + "\n")
        #expect(shell("\(gc) --referrers \(lib.absolute(in: s))") == app.absolute(in: s) + "\n")
        #expect(shell("\(gc) -R \(app.absolute(in: s))/") == [lib, app].sorted().map { $0.absolute(in: s) + "\n" }.joined())
        #expect(shell("\(gc) --list-dead") == junk.absolute(in: s) + "\n")
        #expect(shell("\(gc) --list-roots") == t.root + "/state/gcroots/app\n")
        #expect(shell("\(gc) -d \(lib.absolute(in: s)) 2>&1; echo $?") ==
                "cloister: gc: cannot delete path `\(lib.absolute(in: s))' since it is still alive\n1\n")
        #expect(shell("\(gc) 2>&1 | grep -c deleting") == "2\n")
        #expect(access(junk.absolute(in: s), F_OK) != 0)
        #expect(shell("\(gc) --verify=contents") != nil)
        #expect(shell("\(gc) --vacuum-database") == "")
        #expect(shell("\(gc) --list-busy") != nil)
    }
}
