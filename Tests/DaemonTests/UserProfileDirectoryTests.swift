import Testing
import Foundation
import Glibc
import StoreFormats
import WorkerProtocol

/// SEC-01 (guix-daemon.md §7.2 step 6): each connection makes `profiles/per-user/<user>` for
/// its peer, owned by that user — the parents too when they are missing (the first client, or
/// after someone removed them), and only a single mkdir when they exist.
@Suite(.serialized, .tags(.large)) struct UserProfileDirectoryTests {
    @Test(.enabled(if: geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/nix-store")
                   && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")))
    func eachPeerGetsItsOwnDirectory() throws {
        let daemon = try TemporaryDaemon(label: "profiles")
        let store = try StoreDirectory(daemon.root + "/store")
        let perUser = daemon.root + "/var/profiles/per-user"
        func connectAsRoot() throws {
            let fd = try SocketFD(connectingTo: daemon.socket)
            _ = try WorkerClient(stream: fd, storeDirectory: store, options: .nixDefault())
        }
        try connectAsRoot()
        #expect(FileManager.default.fileExists(atPath: perUser + "/root"))
        // Parents gone: made again on the next connection.
        try FileManager.default.removeItem(atPath: daemon.root + "/var/profiles")
        try connectAsRoot()
        #expect(FileManager.default.fileExists(atPath: perUser + "/root"))
        // An ordinary user's directory is that user's.
        let home = daemon.root + "/nobody-home"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        chown(home, 65534, 65534)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        p.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", "nix-store", "--check-validity", store.path + "/" + String(repeating: "0", count: 32) + "-x"]
        p.environment = daemon.clientEnvironment(home: home)
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        p.waitUntilExit()
        let name = try #require(getpwuid(65534).map { String(cString: $0.pointee.pw_name) })
        let attributes = try FileManager.default.attributesOfItem(atPath: perUser + "/" + name)
        #expect((attributes[.ownerAccountID] as? NSNumber)?.intValue == 65534)
    }
}
