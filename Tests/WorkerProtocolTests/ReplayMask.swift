import StoreFormats
@testable import WorkerProtocol

/// What a replay compares, and the run-specific values it masks — exactly these, nothing else:
///
/// 1. the daemon's handshake version word and version text (0x164 / "cloister 0.1" vs
///    0x122 / "2.8.0"), replaced by the capture's before decoding;
/// 2. `registrationTime` in path infos (wall clock);
/// 3. the high 32 bits of activity ids (Nix: the daemon process's pid; the low 32 bits, a
///    per-process counter from 0, are compared);
/// 4. `startTime` / `stopTime` of build results (wall clock);
/// 5. the order of consecutive `deleting '<path>'` GC lines (Nix deletes in `readdir` order of
///    the store directory, which depends on the capture machine's file system); the lines
///    themselves are compared;
/// 6. in Nix's "… is required to build …" error, the daemon's own system features (its last
///    `{…}`): the capture machine had /dev/kvm, this one may not. The rest of every error
///    message, ANSI colours included, is compared.
enum ReplayMask {
    static func activity(_ id: UInt64) -> UInt64 { id & 0xffff_ffff }

    static func message(_ m: StderrMessage) -> StderrMessage {
        switch m {
        case .error(var report):
            report.message = errorText(report.message)
            return .error(report)
        case .startActivity(let id, let level, let type, let text, let fields, let parent):
            return .startActivity(id: activity(id), level: level, type: type, text: text, fields: fields,
                                  parent: parent == 0 ? 0 : activity(parent))
        case .stopActivity(let id): return .stopActivity(id: activity(id))
        case .result(let id, let type, let fields): return .result(id: activity(id), type: type, fields: fields)
        default: return m
        }
    }

    static func errorText(_ text: String) -> String {
        guard text.contains(" is required to build "), let features = text.range(of: " with features {", options: .backwards) else { return text }
        return text[..<features.upperBound] + "…}"
    }

    static func isDeletion(_ m: StderrMessage) -> Bool {
        if case .next(let bytes) = m { return bytes.starts(with: Array("deleting '".utf8)) }
        return false
    }

    static func messages(_ list: [StderrMessage]) -> [StderrMessage] {
        var out: [StderrMessage] = []
        var run: [[UInt8]] = []
        func flush() {
            out += run.sorted { $0.lexicographicallyPrecedes($1) }.map { .next($0) }
            run = []
        }
        for m in list.map(message) {
            if isDeletion(m), case .next(let bytes) = m { run.append(bytes); continue }
            flush()
            out.append(m)
        }
        flush()
        return out
    }

    static func build(_ r: BuildResult) -> BuildResult {
        var r = r
        r.startTime = 0
        r.stopTime = 0
        return r
    }

    static func reply(_ reply: WorkerReply?) -> WorkerReply? {
        switch reply {
        case .pathInfo(var info?)?: info.registrationTime = 0; return .pathInfo(info)
        case .addedPathInfo(var info)?: info.registrationTime = 0; return .addedPathInfo(info)
        case .buildResult(let r)?: return .buildResult(build(r))
        case .buildResults(let list)?:
            return .buildResults(list.map { var k = $0; k.result = build(k.result); return k })
        default: return reply
        }
    }

    /// First difference between Nix's exchanges and ours after masking, or nil.
    static func difference(_ theirs: TranscriptParser, _ ours: TranscriptParser) -> String? {
        guard theirs.exchanges.count == ours.exchanges.count else {
            return "\(ours.exchanges.count) exchanges instead of \(theirs.exchanges.count)"
        }
        for (i, (t, o)) in zip(theirs.exchanges, ours.exchanges).enumerated() {
            let name = t.request.map { "\($0.opcode)" } ?? "undecodable request"
            let (tm, om) = (messages(t.messages), messages(o.messages))
            if tm != om {
                let at = Array(zip(tm, om)).firstIndex { $0 != $1 } ?? min(tm.count, om.count)
                func show(_ l: [StderrMessage]) -> String { at < l.count ? describe(l[at]) : "(end)" }
                let ourError = o.messages.compactMap { if case .error(let e) = $0 { return " [our error: \(e.message)]" } else { return nil } }.first ?? ""
                return "#\(i) \(name): stderr #\(at) is \(show(om)), Nix sent \(show(tm)) (\(om.count) vs \(tm.count) messages)\(ourError)"
            }
            if reply(t.reply) != reply(o.reply) { return "#\(i) \(name): reply \(String(describing: o.reply)) vs \(String(describing: t.reply))" }
        }
        if messages(theirs.trailingErrors) != messages(ours.trailingErrors) {
            return "trailing errors \(ours.trailingErrors.map(describe)) vs \(theirs.trailingErrors.map(describe))"
        }
        return nil
    }

    static func describe(_ m: StderrMessage) -> String {
        if case .next(let bytes) = m { return "NEXT \(String(decoding: bytes, as: UTF8.self).debugDescription)" }
        return String(describing: m)
    }

    /// The server bytes with the handshake's version word and text replaced by the capture's.
    static func unmaskHandshake(ours server: [UInt8], theirs: TranscriptParser) -> [UInt8] {
        let ourPrefix = 16 + 8 + 16   // magic, version, string "cloister 0.1" (12 bytes padded to 16)
        let theirPrefix = 16 + (theirs.versionText.map { 8 + ($0.utf8.count + 7) / 8 * 8 } ?? 0)
        if theirs.versionText != nil, server.count >= ourPrefix {
            return Array(theirs.serverBytes[0..<theirPrefix]) + server[ourPrefix...]
        } else if server.count >= 16 {
            return Array(theirs.serverBytes[0..<16]) + server[16...]
        }
        return server
    }
}
