import Glibc

/// What `cloister build` shows on stderr while builds run, fed by the `@ build-started`,
/// `@ build-succeeded` and `@ build-failed` traces (guix-daemon.md §5) and the builders' output,
/// whether they come from the daemon's stderr channel or from the local Builder.
///
/// On a terminal: one status line redrawn in place — builds done/running/left and the last
/// line the current build printed — with finished builds and messages scrolling above it.
/// Otherwise: plain lines, one per event, and the build logs as they come. Verbosity: 0 only
/// errors; 1 progress lines; 2 (default) also build logs (on a terminal: their last line in
/// the status line); 3 and up, build logs in full on a terminal too.
final class BuildProgress: @unchecked Sendable {
    let total: Int
    let verbosity: Int
    let isTerminal: Bool
    private(set) var done = 0
    private(set) var failed = 0
    /// Running builds in start order (the last one is "current").
    private var running: [String] = []
    private var lastLine: [UInt8] = []
    private var partial: [UInt8] = []
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
            running.removeAll { $0 == drv }
            running.append(drv)
            lastLine = []
            if verbosity >= 1 && !isTerminal { permanent("\(counts) building \(drv)") }
            redraw()
        case "build-succeeded":
            running.removeAll { $0 == drv }
            done += 1
            if verbosity >= 1 { permanent("\(counts) built \(drv)") }
        case "build-failed":
            running.removeAll { $0 == drv }
            done += 1
            failed += 1
            let rest = fields.dropFirst(4)
            let reason = (rest.first == "1" || rest.first == "0" ? rest.dropFirst() : rest).joined(separator: " ")
            if verbosity >= 1 { permanent("\(counts) failed \(drv)\(reason.isEmpty ? "" : ": " + reason)") }
        default:
            break
        }
    }

    /// Builder output (stdout and stderr, any chunking).
    func output(_ bytes: [UInt8]) {
        guard verbosity >= 2 else { return }
        if !isTerminal || verbosity >= 3 {
            clearStatus()
            bytes.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
        }
        // Remember the last complete, non-empty line for the status line.
        partial += bytes
        if let newline = partial.lastIndex(of: UInt8(ascii: "\n")) {
            let complete = partial[..<newline]
            let start = complete.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? complete.startIndex
            let line = Array(complete[start...])
            if !line.isEmpty { lastLine = line }
            partial.removeSubrange(...newline)
        }
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
        guard let current = running.last else {
            clearStatus()
            return
        }
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
