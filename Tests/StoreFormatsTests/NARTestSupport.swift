import Foundation
import StoreFormats

/// The shared vectors folder: $CLOISTER_VECTORS, else <repo>/../shared/vectors.
enum NARTestVectors {
    static let directory: URL = {
        if let override = ProcessInfo.processInfo.environment["CLOISTER_VECTORS"] {
            return URL(fileURLWithPath: override)
        }
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path), url.path != "/" {
            url.deleteLastPathComponent()
        }
        // <repo>/../shared/vectors; from a worktree (/work/wt/x) the nearest ancestor holding it.
        var base = url.deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: base.appendingPathComponent("shared/vectors").path), base.path != "/" {
            base.deleteLastPathComponent()
        }
        return base.appendingPathComponent("shared/vectors")
    }()

    static func bytes(_ relative: String) throws -> [UInt8] {
        Array(try Data(contentsOf: directory.appendingPathComponent(relative)))
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let file: String
        let valid: Bool
        let size: Int
        let sha256Hex: String?
        let sha256Nix32: String?
        let expectedError: String?
        var testDescription: String { file }
    }

    static let cases: [Case] = {
        guard let data = try? Data(contentsOf: directory.appendingPathComponent("nar.json")),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let list = json["cases"] as? [[String: Any]] else { return [] }
        return list.map {
            Case(file: $0["file"] as? String ?? "?", valid: $0["valid"] as? Bool ?? false, size: $0["size"] as? Int ?? -1,
                 sha256Hex: $0["sha256_hex"] as? String, sha256Nix32: $0["sha256_nix32"] as? String,
                 expectedError: $0["expected_error"] as? String)
        }
    }()

    static var good: [Case] { cases.filter(\.valid) }
    static var bad: [Case] { cases.filter { !$0.valid } }
}

import Testing

/// Raw NAR tokens, written without any validation, to build malformed inputs.
struct RawNAR {
    var bytes: [UInt8] = []

    @discardableResult
    mutating func integer(_ value: UInt64) -> Self {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
        return self
    }

    @discardableResult
    mutating func string(_ value: [UInt8]) -> Self {
        integer(UInt64(value.count))
        bytes += value
        bytes += [UInt8](repeating: 0, count: (8 - value.count % 8) % 8)
        return self
    }

    @discardableResult
    mutating func tokens(_ values: String...) -> Self {
        for value in values { string(Array(value.utf8)) }
        return self
    }

    static func file(_ contents: String, executable: Bool = false) -> RawNAR {
        var nar = RawNAR()
        nar.tokens("(", "type", "regular")
        if executable { nar.tokens("executable", "") }
        nar.tokens("contents", contents, ")")
        return nar
    }

    /// A directory node whose entries are (name, node bytes), written in the order given.
    static func directory(_ entries: [([UInt8], RawNAR)]) -> RawNAR {
        var nar = RawNAR()
        nar.tokens("(", "type", "directory")
        for (name, node) in entries {
            nar.tokens("entry", "(", "name")
            nar.string(name)
            nar.tokens("node")
            nar.bytes += node.bytes
            nar.tokens(")")
        }
        nar.tokens(")")
        return nar
    }

    /// The magic followed by `root`.
    static func archive(_ root: RawNAR) -> [UInt8] {
        var nar = RawNAR()
        nar.tokens("nix-archive-1")
        return nar.bytes + root.bytes
    }
}

/// Expects `bytes` to be refused as a NAR; returns the reason for further checks.
@discardableResult
func expectRejected(_ bytes: [UInt8], _ fragment: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) -> String? {
    do {
        try NAR.validate(bytes)
        Issue.record("accepted a bad NAR", sourceLocation: sourceLocation)
        return nil
    } catch let FormatError.invalidNAR(_, reason) {
        if let fragment {
            #expect(reason.contains(fragment), "reason '\(reason)' lacks '\(fragment)'", sourceLocation: sourceLocation)
        }
        return reason
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// A byte source that hands out at most `step` bytes per read (exercises short reads).
struct TrickleSource: NARByteSource {
    var inner: ByteArraySource
    let step: Int
    init(_ bytes: [UInt8], step: Int) {
        inner = ByteArraySource(bytes)
        self.step = step
    }
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try inner.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<min(step, buffer.count)]))
    }
}
