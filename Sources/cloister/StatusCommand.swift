/// `cloister status`: whether a daemon answers on the socket the other commands use, and what
/// it said in the handshake. Exit 0 when it does, 1 (with the reason and the fix) when not —
/// scripts wait for a daemon with it (`make demo` does).
enum StatusCommand {
    static let usage = """
        Usage: cloister status
        Connect to the daemon (GUIX_DAEMON_SOCKET, default /var/guix/daemon-socket/socket) and
        print its socket, protocol version and store; exit 1 if no daemon answers.
        """

    static func run(_ arguments: [String]) throws -> Int32 {
        if arguments.contains("-h") || arguments.contains("--help") {
            print(usage)
            return 0
        }
        if let extra = arguments.first { throw UsageError("unexpected argument '\(extra)'") }
        let connection = try DaemonConnection.open()
        let version = connection.client.negotiated.daemonVersion
        print("socket: \(connection.socketPath)")
        print("protocol: 0x\(String(version.raw, radix: 16))\(connection.client.daemonVersionText.map { ", " + $0 } ?? "")")
        print("store: \(connection.storeDirectory.path)")
        return 0
    }
}
