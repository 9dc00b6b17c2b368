import Glibc

/// What `cloister build` shows on stderr while builds run, fed by the `@ build-started`,
/// `@ build-succeeded` and `@ build-failed` traces (guix-daemon.md §5) and the builders' output,
/// whether they come from the daemon's stderr channel or from the local Builder.
///
/// On a terminal: one status line redrawn in place — builds done/running/left, the build that
/// printed last and its last line — with finished builds and messages scrolling above it.
/// Output is attributed to its build by derivation (local builds) or by the builder's pid from
/// `@ build-started` (the daemon's `@ build-log <pid> <len>` multiplexing); unattributed output
/// goes to the most recently started build.
/// Otherwise: plain lines, one per event, and the build logs as they come. Verbosity: 0 only
/// errors; 1 progress lines; 2 (default) also build logs (on a terminal: their last line in
/// the status line); 3 and up, build logs in full on a terminal too.
final class BuildProgress: @unchecked Sendable {
    let total: Int
    let verbosity: Int
    let isTerminal: Bool
    private(set) var done = 0
    private(set) var failed = 0
    /// Running builds in start order.
    private var running: [String] = []
    /// The build the status line shows: the one that printed last.
    private var current: String?
    /// Per build: its last complete non-empty line, and what came after it.
    private var lastLines: [String: [UInt8]] = [:]
    private var partials: [String: [UInt8]] = [:]
    /// Builder pid (from `@ build-started`) → derivation.
    private var derivationsByPID: [String: String] = [:]
    private var statusShown = false

    init(total: Int, verbosity: Int, isTerminal: Bool = isatty(2) == 1) {
        self.total = total
        self.verbosity = verbosity
        self.isTerminal = isTerminal
    }

    var counts: String {
        "[\(done)/\(total) built, \(running.count) running, \(max(total - done - running.count, 0)) left]"
    }

    /// A line from the daemon or the builder's messages (no trailing newline).
    func message(_ line: String) {
        let fields = line.split(separator: " ", omittingEmptySubsequences: false)
        guard fields.count >= 3, fields[0] == "@" else {
            if line.hasPrefix("building path(s)") || line.isEmpty { return }
            if verbosity >= 1 { permanent(line) }
            return
        }
        let drv = String(fields[2])
        switch fields[1] {
        case "build-started":
            finished(drv)
            running.append(drv)
            current = drv
            // `@ build-started D - SYSTEM LOGFILE PID`
            if fields.count >= 7 { derivationsByPID[String(fields[6])] = drv }
            if verbosity >= 1 && !isTerminal { permanent("\(counts) building \(drv)") }
            redraw()
        case "build-succeeded":
            finished(drv)
            done += 1
            if verbosity >= 1 { permanent("\(counts) built \(drv)") }
        case "build-failed":
            finished(drv)
            done += 1
            failed += 1
            let rest = fields.dropFirst(4)
            let reason = (rest.first == "1" || rest.first == "0" ? rest.dropFirst() : rest).joined(separator: " ")
            if verbosity >= 1 { permanent("\(counts) failed \(drv)\(reason.isEmpty ? "" : ": " + reason)") }
        default:
            break
        }
    }

    private func finished(_ drv: String) {
        running.removeAll { $0 == drv }
        lastLines[drv] = nil
        partials[drv] = nil
        derivationsByPID = derivationsByPID.filter { $0.value != drv }
        if current == drv { current = running.last }
    }

    /// Output of the build whose builder has `pid` (as in `@ build-started`).
    func output(_ bytes: [UInt8], pid: String) {
        output(bytes, derivation: derivationsByPID[pid])
    }

    /// Builder output (stdout and stderr, any chunking) of `derivation`; nil: unattributed,
    /// taken as the most recently started build's.
    func output(_ bytes: [UInt8], derivation: String? = nil) {
        guard verbosity >= 2 else { return }
        if !isTerminal || verbosity >= 3 {
            clearStatus()
            bytes.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
        }
        guard let drv = derivation.flatMap({ running.contains($0) ? $0 : nil }) ?? running.last else { return }
        current = drv
        // Remember the build's last complete, non-empty line for the status line.
        var partial = partials[drv, default: []] + bytes
        if let newline = partial.lastIndex(of: UInt8(ascii: "\n")) {
            let complete = partial[..<newline]
            let start = complete.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? complete.startIndex
            let line = Array(complete[start...])
            if !line.isEmpty { lastLines[drv] = line }
            partial.removeSubrange(...newline)
        }
        partials[drv] = partial
        redraw()
    }

    /// Clears the status line before the caller prints its final lines.
    func finish() { clearStatus() }

    private func permanent(_ line: String) {
        clearStatus()
        writeStandardError(line + "\n")
        redraw()
    }

    private func clearStatus() {
        guard statusShown else { return }
        writeStandardError("\r\u{1B}[K")
        statusShown = false
    }

    private func redraw() {
        guard isTerminal, verbosity >= 1 else { return }
        guard let current = current ?? running.last else {
            clearStatus()
            return
        }
        let lastLine = lastLines[current] ?? []
        var line = counts
        do {
            // The derivation's name without its directory and hash keeps room for the log line.
            var name = current.split(separator: "/").last.map(String.init) ?? current
            if let dash = name.firstIndex(of: "-"), name.distance(from: name.startIndex, to: dash) == 32 {
                name = String(name[name.index(after: dash)...])
            }
            line += " building " + name
            if verbosity >= 2, !lastLine.isEmpty {
                let printable = lastLine.map { $0 < 0x20 || $0 == 0x7f ? UInt8(ascii: " ") : $0 }
                line += ": " + String(decoding: printable, as: UTF8.self)
            }
        }
        let width = Self.terminalWidth()
        if line.count >= width { line = String(line.prefix(max(width - 1, 10))) }
        writeStandardError("\r\u{1B}[K" + line)
        statusShown = true
    }

    static func terminalWidth() -> Int {
        var size = winsize()
        if ioctl(2, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        return 80
    }
}
