/// A spare worker's rehearsal (issue 4): the first session a process serves pays for more than
/// the work itself — lazy symbol binding, Swift metadata and protocol-conformance lookups, NSS
/// initialisation for the user name, first SQLite statement preparation — about 3 ms in all.
/// A spare pays that before its client arrives by serving one throw-away session of each
/// dialect over a socketpair, from a client thread in this process: handshake, SetOptions,
/// IsValidPath and QueryPathInfo of a path that does not exist. Read-only: it touches the
/// database only through queries, creates no profile directory and logs nothing.
import StoreFormats
import WorkerProtocol
import LocalStore
import LinuxSystem

enum WorkerWarmUp {
    static func run(store: LocalStore, configuration: DaemonConfiguration) {
        _ = DaemonProcess.userName(of: ProcessEnvironment.realUserID)
        let storeDirectory = store.storeDirectory
        guard let absent = try? StorePath(baseName: String(repeating: "0", count: 32) + "-cloister-warm-up") else { return }
        for version in [ProtocolVersion.nix28, ProtocolVersion.guix] {
            guard let (serverEnd, clientEnd) = try? DescriptorChannel.makePair(stream: true) else { return }
            let client = try? SystemThread.start {
                defer { try? clientEnd.close() }
                let stream = SocketStream(clientEnd)
                guard let c = try? WorkerClient(stream: stream, version: version, storeDirectory: storeDirectory,
                                                options: version == .guix ? .guixDefault : .nixDefault()) else { return }
                _ = try? c.isValidPath(absent)
                _ = try? c.queryPathInfo(absent)
            }
            _ = Socket.peerCredentials(serverEnd)
            let service = LocalStoreService(store: store, configuration: configuration)
            let session = ServerSession(stream: SocketStream(serverEnd), service: service, client: ClientIdentity(trusted: false),
                                        storeDirectory: storeDirectory)
            _ = session.run()
            try? serverEnd.close()
            client?.join()
        }
    }
}
