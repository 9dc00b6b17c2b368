import Foundation

/// Locates the shared vectors: `$CLOISTER_VECTORS`, else the first `shared/vectors` beside the
/// repository or one of its ancestors (the repo is found from this file's path).
enum Vectors {
    static let root: String = {
        if let env = ProcessInfo.processInfo.environment["CLOISTER_VECTORS"] { return env }
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while dir.path != "/" {
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) { break }
            dir = dir.deletingLastPathComponent()
        }
        var up = dir.deletingLastPathComponent()
        while up.path != "/" {
            let candidate = up.appendingPathComponent("shared/vectors").path
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
            up = up.deletingLastPathComponent()
        }
        return dir.deletingLastPathComponent().appendingPathComponent("shared/vectors").path
    }()

    static func data(_ relative: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: root + "/" + relative)))
    }

    static func json(_ relative: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(try data(relative)))
    }

    static func hex(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        var it = text.utf8.makeIterator()
        while let a = it.next(), let b = it.next() {
            out.append(UInt8(hexDigit(a) << 4 | hexDigit(b)))
        }
        return out
    }

    private static func hexDigit(_ c: UInt8) -> UInt8 {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        default: c - UInt8(ascii: "A") + 10
        }
    }

    static let transcriptNames: [String] = {
        let dir = root + "/worker-protocol/nix-2.8-transcripts"
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
            .filter { $0.hasSuffix(".json") && $0 != "INDEX.json" }.sorted()
    }()
}
