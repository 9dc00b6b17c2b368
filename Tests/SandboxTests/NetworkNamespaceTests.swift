import Glibc
import LinuxSystem
import Testing
@testable import Sandbox

/// Network namespaces made ahead (NetworkNamespaces): each sandbox gets its own, fresh, with
/// `lo` up, and the spawning thread is back in the daemon's namespace afterwards.
@Suite(.serialized, .tags(.large), .enabled(if: geteuid() == 0))
struct NetworkNamespaceTests {
    typealias Mode = ProbeFixture.Mode
    let fixture: ProbeFixture

    init() throws { fixture = try ProbeFixture.shared.get() }

    func threadNamespace() throws -> String {
        String(decoding: try HostPath.readLink("/proc/thread-self/ns/net"), as: UTF8.self)
    }

    @Test func namespacesAreMadeAheadAsRoot() throws {
        var taken: FileDescriptor?
        for _ in 0..<200 where taken == nil {
            taken = NetworkNamespaces.shared.take()
            if taken == nil { usleep(5_000) }
        }
        let fd = try #require(taken)
        #expect(String(decoding: try HostPath.readLink("/proc/self/fd/\(fd.rawValue)"), as: UTF8.self) != (try threadNamespace()))
        try fd.close()
    }

    @Test(arguments: Mode.allCases)
    func eachSandboxHasItsOwnNamespaceWithLoopbackUp(_ mode: Mode) throws {
        let home = try threadNamespace()
        _ = NetworkNamespaces.shared.take()  // Starts the maker if no test did.
        usleep(50_000)
        var seen: Set<String> = []
        for _ in 0..<3 {
            let out = try fixture.sh(mode, "readlink /proc/self/ns/net; cat /proc/net/dev | grep -c ':'; ip link show lo | grep -c UP")
            let lines = out.split(separator: "\n").map(String.init)
            try #require(lines.count == 3, "\(out)")
            #expect(lines[0] != home && lines[0].hasPrefix("net:["))
            #expect(lines[1] == "1" && lines[2] == "1", "\(out)")
            seen.insert(lines[0])
            #expect(try threadNamespace() == home)
        }
        #expect(seen.count == 3)
    }
}
