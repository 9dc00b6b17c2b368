import Glibc
import Daemon
import LinuxSystem

/// `cloister-daemon [OPTION...]`: guix-daemon's command line (Daemon/Options), then the
/// listener. Thin: everything lives in the Daemon module.
@main
enum CloisterDaemon {
    static func main() {
        let environment = ProcessEnvironment.current()
        let workerKind = environment[DaemonServer.workerVariable]
        if workerKind == DaemonServer.idleSpareKind { SystemThread.runOnlyWhenIdle() }
        switch DaemonCommandLine.parse(CommandLine.arguments, environment: environment, processID: ProcessEnvironment.processID) {
        case .exit(let status, let out, let err):
            if !out.isEmpty { say(out, to: 1) }
            if !err.isEmpty { say(err, to: 2) }
            exit(status)
        case .run(let configuration):
            DaemonProcess.installSignalHandlers()
            umask(0o022)
            // A connection worker (a copy of this program started by the listener) serves and
            // exits: the startup log and `guix discover` belong to the listener alone.
            if workerKind == nil {
                // Mode, store and guix-daemon's root-without-build-group warning; the server logs
                // each socket as it opens it.
                say(configuration.startupLog(effectiveUserID: ProcessEnvironment.effectiveUserID, includeListeners: false), to: 2)
                // --discover=yes: guix-daemon runs `guix discover` beside itself to find substitute
                // servers on the LAN; without Guix installed there is nothing to run.
                if configuration.discover {
                    do {
                        _ = try Program.start(configuration.guixProgram, ["discover"], logPath: nil)
                    } catch {
                        say("warning: --discover: cannot run \(configuration.guixProgram) discover: \(error)\n", to: 2)
                    }
                }
            }
            do {
                let server = try DaemonServer(configuration: configuration) { line in say(line + "\n", to: 2) }
                server.applySessionTuning(environment: environment)
                if let kind = workerKind {
                    if kind == "spare" || kind == DaemonServer.idleSpareKind { server.serveSpare() } else { server.serveWorker(remote: kind == "tcp") }
                    exit(0)
                }
                if environment["CLOISTER_THREAD_PER_CONNECTION"] == nil {
                    var workerEnvironment = environment
                    workerEnvironment.removeValue(forKey: "LISTEN_PID")
                    workerEnvironment.removeValue(forKey: "LISTEN_FDS")
                    server.workerLaunch = (CommandLine.arguments, workerEnvironment)
                    if let text = environment["CLOISTER_SPARE_WORKERS"], let n = Int(text), (0...64).contains(n) { server.spareWorkers = n }
                    server.idleSpares = environment["CLOISTER_IDLE_SPARES"] != "0"
                }
                try server.listen()
                try server.run()
            } catch {
                say("guix-daemon: error: \(error)\n", to: 2)
                exit(1)
            }
        }
    }
}

private func say(_ text: String, to fd: Int32) {
    var bytes = Array(text.utf8)
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
        if n <= 0 { return }
        done += n
    }
}
