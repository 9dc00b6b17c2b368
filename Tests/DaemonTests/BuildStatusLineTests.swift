import Testing
import Foundation
import Glibc

/// `cloister build -M 2` on a terminal (util-linux `script` gives one): two builds print at
/// once, and the status line names the build each shown log line came from — the daemon tags
/// builder output with `@ build-log <pid> <len>` (the client asks for Guix's
/// `multiplexed-build-output`) and the CLI maps pids to derivations from `@ build-started`.
extension CLIClientTests {
    @Test(.enabled(if: access("/bin/busybox", X_OK) == 0 && access("/usr/bin/script", X_OK) == 0))
    func statusLineNamesTheBuildEachLineCameFrom() throws {
        let busybox = try daemon.addBusybox()
        let alpha = try daemon.derivation("alpha", busybox: busybox, script: """
            for i in 1 2 3 4; do echo alpha says $i; sleep 0.3; done; echo a > $out
            """)
        let beta = try daemon.derivation("beta", busybox: busybox, script: """
            sleep 0.15; for i in 1 2 3 4; do echo beta says $i; sleep 0.3; done; echo b > $out
            """)
        let tty = daemon.shell("script -qec \"'\(CLIDaemon.cloisterBinary)' build -M 2 \(alpha.file) \(beta.file)\" /dev/null")
        #expect(tty.status == 0, "\(tty.out)")
        let shown = tty.out.components(separatedBy: "\r\u{1B}[K").compactMap { line -> (String, String)? in
            guard let range = line.range(of: " building ") else { return nil }
            let rest = line[range.upperBound...]
            guard let colon = rest.range(of: ".drv: ") else { return nil }
            return (String(rest[..<colon.lowerBound]), String(rest[colon.upperBound...]).trimmingCharacters(in: .whitespacesAndNewlines))
        }
        #expect(shown.contains { $0.0 == "alpha" } && shown.contains { $0.0 == "beta" }, "\(tty.out)")
        for (build, line) in shown {
            #expect(line.hasPrefix("\(build) says"), "status line shows `\(line)' under \(build)")
        }
        #expect(tty.out.contains("[2/2 built, 0 running, 0 left] built "))
    }
}
