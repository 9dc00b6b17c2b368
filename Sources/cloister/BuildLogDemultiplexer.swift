import WorkerProtocol

/// The daemon's stderr channel as `cloister build` reads it (guix-daemon.md §1.13, §7.3): `@ …`
/// traces and messages as STDERR_NEXT lines (Guix's way), builder output prefixed by `@ build-log
/// <pid> <length>\n` when the client asked for `multiplexed-build-output` — the `<length>` bytes
/// after the header belong to the build whose builder has that pid, however the daemon splits
/// them over STDERR_NEXT messages — or unprefixed from a daemon that does not multiplex; and
/// from a daemon using Nix activities, build log lines as results.
final class BuildLogDemultiplexer {
    let progress: BuildProgress
    let debug: Bool
    /// The build whose log bytes are still due, and how many.
    private var pid = ""
    private var remaining = 0

    init(progress: BuildProgress, debug: Bool) {
        self.progress = progress
        self.debug = debug
    }

    func receive(_ message: StderrMessage) {
        switch message {
        case .next(let bytes):
            next(bytes[...])
        case .result(_, let type, let fields) where type == 101:
            if case .string(let line)? = fields.first { progress.output(line + [UInt8(ascii: "\n")]) }
        case .startActivity(_, _, _, let text, _, _) where debug && !text.isEmpty:
            progress.message(text)
        default:
            break
        }
    }

    private static let header = Array("@ build-log ".utf8)

    private func next(_ bytes: ArraySlice<UInt8>) {
        var rest = bytes
        while !rest.isEmpty {
            if remaining > 0 {
                let chunk = rest.prefix(remaining)
                remaining -= chunk.count
                progress.output(Array(chunk), pid: pid)
                rest = rest.dropFirst(chunk.count)
            } else if rest.starts(with: Self.header), let newline = rest.firstIndex(of: UInt8(ascii: "\n")) {
                let fields = rest[rest.startIndex.advanced(by: Self.header.count)..<newline].split(separator: UInt8(ascii: " "))
                guard fields.count == 2, let length = Int(String(decoding: fields[1], as: UTF8.self)), length >= 0 else {
                    progress.output(Array(rest))
                    return
                }
                pid = String(decoding: fields[0], as: UTF8.self)
                remaining = length
                rest = rest[(newline + 1)...]
            } else if rest.starts(with: Array("@ ".utf8)) || rest.starts(with: Array("building path(s) `".utf8)) {
                for line in rest.split(separator: UInt8(ascii: "\n")) { progress.message(String(decoding: line, as: UTF8.self)) }
                return
            } else {
                progress.output(Array(rest))
                return
            }
        }
    }
}
