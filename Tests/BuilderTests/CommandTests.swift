import Testing
import Glibc
import StoreFormats
import LocalStore
@testable import Builder

/// `cloister build` and `cloister log` against a private store (the executable from the same
/// build; root only, like the other build tests).
@Suite(.serialized, .tags(.large), .enabled(if: geteuid() == 0 && BuildFixture.hasBusybox && cloisterExecutable != nil))
struct BuildAndLogCommandTests {
}

/// `.build/debug/cloister` of this package, if built.
let cloisterExecutable: String? = {
    var dir = "\(#filePath)"
    while !dir.isEmpty && dir != "/" {
        dir = String(dir[..<(dir.lastIndex(of: "/") ?? dir.startIndex)])
        if access(dir + "/Package.swift", F_OK) == 0 {
            let binary = dir + "/.build/debug/cloister"
            return access(binary, X_OK) == 0 ? binary : nil
        }
    }
    return nil
}()

extension BuildAndLogCommandTests {
    func run(_ f: BuildFixture, _ arguments: String) -> (output: String?, status: Int32) {
        let env = "NIX_STORE_DIR='\(f.root)/store' GUIX_STATE_DIRECTORY='\(f.root)/state' GUIX_LOG_DIRECTORY='\(f.root)/log' TMPDIR='\(f.root)/tmp'"
        let command = "\(env) '\(cloisterExecutable ?? "")' \(arguments) 2>'\(f.root)/stderr'; echo \"status=$?\""
        guard let out = shell(command) else { return (nil, -1) }
        let lines = out.split(separator: "\n", omittingEmptySubsequences: false)
        let statusLine = lines.last { $0.hasPrefix("status=") } ?? "status=-1"
        let body = lines.filter { !$0.hasPrefix("status=") }.joined(separator: "\n")
        return (body, Int32(statusLine.dropFirst(7)) ?? -1)
    }

    @Test func buildThenLog() throws {
        let f = try BuildFixture()
        let a = try f.derivation("cli-a", script: "echo building a; mkdir $out")
        let b = try f.derivation("cli-b", script: "echo building b; mkdir $out; echo $in0 > $out/ref", inputs: [a])
        // Drop the store's connection so the CLI's is the only writer.
        let (output, status) = run(f, "build -M 2 \(f.absolute(b))")
        #expect(status == 0)
        #expect(output == f.absolute(try #require(f.output(b))) + "\n")
        let stderr = shell("cat '\(f.root)/stderr'") ?? ""
        #expect(stderr.contains("The following derivations will be built:"))
        #expect(stderr.contains("[2/2 built, 0 running, 0 left] built \(f.absolute(b))"))
        #expect(stderr.contains("building b"))
        #expect(run(f, "log \(f.absolute(b))").output == "building b\n")
        #expect(run(f, "log \(f.absolute(try #require(f.output(a))))").output == "building a\n")

        let failing = try f.derivation("cli-fail", script: "exit 2")
        let failed = run(f, "build -q \(f.absolute(failing))")
        #expect(failed.status == 100)
        #expect(shell("cat '\(f.root)/stderr'")?.contains("cloister: build: builder for `\(f.absolute(failing))' failed with exit code 2") == true)
    }
}
