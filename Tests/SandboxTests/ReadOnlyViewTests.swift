import Glibc
import LinuxSystem
import Testing
@testable import Sandbox

/// The read-only view (ReadOnlyView.swift) changes nothing a builder can see: an input bound
/// through it has exactly the mount line of one bound directly, the view is not mounted and
/// not in `/`, and the input stays read-only and locked (ProbeTests.inputsAreReadOnly runs
/// with the view too: the probe has two store inputs).
@Suite(.serialized, .tags(.large), .enabled(if: geteuid() == 0))
struct ReadOnlyViewTests {
    typealias Mode = ProbeFixture.Mode
    let fixture: ProbeFixture

    init() throws { fixture = try ProbeFixture.shared.get() }

    func sh(_ mode: Mode, inputs: [String], _ script: String) throws -> String {
        let (env, dir) = try fixture.environment(mode, arguments: ["sh", "-c", script], inputs: inputs)
        defer { try? dir.remove() }
        // The view is made exactly when two inputs or more come from the store.
        let viewed = try SetupPlan.steps(for: try env.spec(), lookup: Sandbox.hostBindSource).contains { $0.bindAlone }
        #expect(viewed == (inputs.count >= 2))
        var output: [UInt8] = []
        _ = try Sandbox.spawn(try env.spec()).wait(limits: .init()) { output += $0 }
        return String(decoding: output, as: UTF8.self)
    }

    /// mountinfo of the mount at `path`, without the mount and parent ids.
    func mountLine(_ mode: Mode, inputs: [String], _ path: String) throws -> String {
        let out = try sh(mode, inputs: inputs, "cat /proc/self/mountinfo; echo; ls -a /")
        #expect(!out.contains("read-only-view"))
        #expect(out.hasSuffix("\n.\n..\ndev\netc\ngnu\nproc\ntmp\n"))
        let lines = out.split(separator: "\n").filter { $0.split(separator: " ").count > 4 && $0.split(separator: " ")[4] == path }
        try #require(lines.count == 1, "\(out)")
        return lines[0].split(separator: " ").dropFirst(2).joined(separator: " ")
    }

    @Test(arguments: Mode.allCases)
    func inputMountsAreTheSameWithAndWithoutTheView(_ mode: Mode) throws {
        let direct = try mountLine(mode, inputs: [fixture.busybox], fixture.busybox)
        let viewed = try mountLine(mode, inputs: [fixture.busybox, fixture.data], fixture.busybox)
        #expect(viewed == direct)
        #expect(direct.split(separator: " ")[3].split(separator: ",").contains("ro"), "\(direct)")
    }
}
