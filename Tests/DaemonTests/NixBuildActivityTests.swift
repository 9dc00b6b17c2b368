import Testing
import Foundation
import Glibc
import StoreFormats
import WorkerProtocol

/// A Nix 1.34 client building through the daemon gets Nix 2.8's worker activities (formats.md
/// §6.3): realise/builds/copyPaths, the `building '<drv>'` activity with its fields, each line
/// of builder output as a `buildLogLine` result on it, progress rounds, all stopped — and no
/// guix-daemon `building path(s)` line. Root only (builds run in the chroot).
@Suite(.serialized, .tags(.large),
       .enabled(if: geteuid() == 0 && CLIDaemon.binariesExist && access("/bin/busybox", X_OK) == 0))
final class NixBuildActivityTests {
    @Test func buildIsAnActivityWithLogLines() throws {
        let daemon = try CLIDaemon()
        defer { daemon.stop() }
        let busybox = try daemon.addBusybox()
        let drv = try daemon.derivation("chatty", busybox: busybox, script: "echo one; printf 'two'; echo x > $out")
        let fd = try SocketFD(connectingTo: daemon.root + "/state/daemon-socket/socket")
        let store = try StoreDirectory(daemon.store)
        let client = try WorkerClient(stream: fd, storeDirectory: store, options: .nixDefault())
        let text = try #require(FileManager.default.contents(atPath: drv.file))
        let drvPath = try client.addTextToStore(name: "chatty.drv", text: [UInt8](text), references: [busybox])
        #expect(drvPath == drv.path)
        var messages: [StderrMessage] = []
        client.onLog = { messages.append($0) }
        try client.call(.buildPaths([.built(derivation: drvPath, outputs: .all)], mode: 0))

        var started: [UInt64: (type: UInt64, text: String, fields: [LogField])] = [:]
        var stopped = Set<UInt64>()
        var lines: [String] = []
        for m in messages {
            switch m {
            case .startActivity(let id, _, let type, let text, let fields, _): started[id] = (type, text, fields)
            case .stopActivity(let id): stopped.insert(id)
            case .result(let id, 101, let fields):
                #expect(started[id]?.type == 105)
                if case .string(let s)? = fields.first { lines.append(String(decoding: s, as: UTF8.self)) }
            case .next(let bytes): #expect(!String(decoding: bytes, as: UTF8.self).hasPrefix("building path(s)"))
            default: break
            }
        }
        #expect(Set(started.values.map(\.type)) == [102, 104, 103, 105, 0])
        let build = try #require(started.values.first { $0.type == 105 })
        #expect(build.text == "building '\(drv.drvPath)'")
        #expect(build.fields == [.string(Array(drv.drvPath.utf8)), .string([]), .int(1), .int(1)])
        #expect(lines == ["one", "two"])
        #expect(Set(started.keys) == stopped)
        // The last progress of the builds activity: one done, none running or failed.
        let buildsID = try #require(started.first { $0.value.type == 104 }?.key)
        let last = messages.last { if case .result(buildsID, 105, _) = $0 { return true } else { return false } }
        #expect(last == .result(id: buildsID, type: 105, fields: [.int(1), .int(1), .int(0), .int(0)]))
    }

    /// A client below 1.20 gets what Nix 2.8 sends it: the build activity's text as a line
    /// (`building '<drv>'...`, level info, within the default verbosity) and no builder output
    /// (its log-line results are dropped), nothing else of the activities.
    @Test func clientBelow120GetsTheBuildLineOnly() throws {
        let daemon = try CLIDaemon()
        defer { daemon.stop() }
        let busybox = try daemon.addBusybox()
        let drv = try daemon.derivation("old-chatty", busybox: busybox, script: "echo one; printf 'two'; echo x > $out")
        let fd = try SocketFD(connectingTo: daemon.root + "/state/daemon-socket/socket")
        let store = try StoreDirectory(daemon.store)
        let client = try WorkerClient(stream: fd, version: ProtocolVersion(0x113), storeDirectory: store, options: .nixDefault())
        let text = try #require(FileManager.default.contents(atPath: drv.file))
        let drvPath = try client.addTextToStore(name: "old-chatty.drv", text: [UInt8](text), references: [busybox])
        var messages: [StderrMessage] = []
        client.onLog = { messages.append($0) }
        try client.call(.buildPaths([.built(derivation: drvPath, outputs: .all)], mode: 0))
        let lines = messages.compactMap { if case .next(let bytes) = $0 { String(decoding: bytes, as: UTF8.self) } else { nil } }
        #expect(lines == ["building '\(drv.drvPath)'...\n"])
        #expect(messages.count == lines.count)
        #expect(FileManager.default.fileExists(atPath: drv.output))
    }
}
