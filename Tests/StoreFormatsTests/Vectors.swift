import Foundation
import Testing

/// The shared known-answer vectors (`<repo>/../shared/vectors`, or `$CLOISTER_VECTORS`), read at
/// run time so that nothing is copied into the repository.
enum Vectors {
    struct Missing: Error, CustomStringConvertible {
        let description: String
    }

    static let directory: String = {
        if let override = ProcessInfo.processInfo.environment["CLOISTER_VECTORS"], !override.isEmpty {
            return override
        }
        // Walk up from this file to the directory holding Package.swift; `shared/` sits beside
        // it (a clone), or beside one of its ancestors (a git worktree under /work/wt/NAME).
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        var foundRepository = false
        while url.path != "/" {
            let here = FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path)
            foundRepository = foundRepository || here
            let candidate = url.deletingLastPathComponent().appendingPathComponent("shared/vectors").path
            if foundRepository && FileManager.default.fileExists(atPath: candidate) { return candidate }
            url = url.deletingLastPathComponent()
        }
        return "../shared/vectors"
    }()

    static func path(_ name: String) -> String { directory + "/" + name }

    static func bytes(_ name: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path(name)) else {
            throw Missing(description: "cannot read vector file \(path(name))")
        }
        return [UInt8](data)
    }

    /// A JSON vector file as nested dictionaries/arrays.
    static func json(_ name: String) throws -> [String: Any] {
        let data = Data(try bytes(name))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw Missing(description: "\(name) is not a JSON object")
        }
        return object
    }

    /// Decodes lowercase or uppercase hex from a vector file (test data, trusted).
    static func hex(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        var chars = Array(text.utf8).makeIterator()
        func value(_ c: UInt8) -> UInt8 {
            switch c {
            case 48...57: c - 48
            case 97...102: c - 87
            case 65...70: c - 55
            default: 0xFF
            }
        }
        while let a = chars.next(), let b = chars.next() { out.append(value(a) << 4 | value(b)) }
        return out
    }
}

/// JSON accessors that fail a test (rather than trap) when a vector file changes shape.
extension Dictionary where Key == String, Value == Any {
    func string(_ key: String) throws -> String { try #require(self[key] as? String, "\(key) missing") }
    func strings(_ key: String) throws -> [String] { try #require(self[key] as? [String], "\(key) missing") }
    func object(_ key: String) throws -> [String: Any] { try #require(self[key] as? [String: Any], "\(key) missing") }
    func objects(_ key: String) throws -> [[String: Any]] { try #require(self[key] as? [[String: Any]], "\(key) missing") }
}
