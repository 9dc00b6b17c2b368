import Glibc
import LinuxSystem
import Testing
@testable import Sandbox

/// Network and IPC namespaces made ahead (PreparedNamespaces): each sandbox gets its own,
/// fresh, `lo` up, and the spawning thread is back in the daemon's namespaces afterwards.
@Suite(.serialized, .tags(.large), .enabled(if: geteuid() == 0))
struct PreparedNamespaceTests {
    typealias Mode = ProbeFixture.Mode
    let fixture: ProbeFixture

    init() throws { fixture = try ProbeFixture.shared.get() }

    func threadNamespaces() throws -> [String] {
        try ["net", "ipc"].map { String(decoding: try HostPath.readLink("/proc/thread-self/ns/" + $0), as: UTF8.self) }
    }

    @Test(arguments: [PreparedNamespaces.Kind.network, .ipc])
    func namespacesAreMadeAheadAsRoot(_ kind: PreparedNamespaces.Kind) throws {
        var taken: FileDescriptor?
        for _ in 0..<200 where taken == nil {
            taken = PreparedNamespaces.shared.take(kind)
            if taken == nil { usleep(5_000) }
        }
        let fd = try #require(taken)
        let link = String(decoding: try HostPath.readLink("/proc/self/fd/\(fd.rawValue)"), as: UTF8.self)
        let home = try threadNamespaces()
        #expect(link.hasPrefix(kind.procName + ":[") && !home.contains(link))
        try fd.close()
    }

    @Test(arguments: Mode.allCases)
    func eachSandboxHasItsOwnNamespacesWithLoopbackUp(_ mode: Mode) throws {
        let home = try threadNamespaces()
        _ = PreparedNamespaces.shared.take(.ipc)  // Starts the maker if no test did.
        usleep(50_000)
        var seen: Set<String> = []
        for _ in 0..<3 {
            let out = try fixture.sh(mode, "readlink /proc/self/ns/net; readlink /proc/self/ns/ipc; cat /proc/net/dev | grep -c ':'; ip link show lo | grep -c UP")
            let lines = out.split(separator: "\n").map(String.init)
            try #require(lines.count == 4, "\(out)")
            #expect(lines[0].hasPrefix("net:[") && lines[1].hasPrefix("ipc:[") && !home.contains(lines[0]) && !home.contains(lines[1]))
            #expect(lines[2] == "1" && lines[3] == "1", "\(out)")
            seen.formUnion(lines[0...1])
            let now = try threadNamespaces()
            #expect(now == home)
        }
        #expect(seen.count == 6)
    }

    /// The mount namespace is held from the spawn on, so its teardown happens where the holder
    /// closes it, not in the program's exit.
    @Test(arguments: Mode.allCases)
    func mountNamespaceOutlivesTheProgram(_ mode: Mode) throws {
        let (env, dir) = try fixture.environment(mode, arguments: ["sh", "-c", "sleep 0.1"])
        defer { try? dir.remove() }
        let process = try Sandbox.spawn(try env.spec())
        let held = try #require(process.mountNamespace)
        _ = try process.wait(limits: .init()) { _ in }
        let link = String(decoding: try HostPath.readLink("/proc/self/fd/\(held.rawValue)"), as: UTF8.self)
        let host = String(decoding: try HostPath.readLink("/proc/self/ns/mnt"), as: UTF8.self)
        #expect(link.hasPrefix("mnt:[") && link != host)
        try held.close()
    }
}
