import Foundation
import StoreFormats
import Testing

/// The shared derivation vectors (`../shared/vectors/derivations.json`, `drv/`), read at run
/// time. The folder is `$CLOISTER_VECTORS`, else the first `shared/vectors` found walking up
/// from the package root (a CI clone has `shared/` beside it; a worktree further up).
enum DerivationFixtures {
    static let vectors: String = {
        if let override = ProcessInfo.processInfo.environment["CLOISTER_VECTORS"] { return override }
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
            url.deleteLastPathComponent()
        }
        while url.path != "/" {
            let candidate = url.appendingPathComponent("shared/vectors")
            if FileManager.default.fileExists(atPath: candidate.path) { return candidate.path }
            url.deleteLastPathComponent()
        }
        return "../shared/vectors"
    }()

    static func bytes(_ relative: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: vectors + "/" + relative)))
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let file: String
        let name: String
        let drvPath: String
        let outputs: [String: String]
        let maskedHex: String
        let asInputHex: String
        let fixedOutput: Bool
        var testDescription: String { file }
    }

    nonisolated(unsafe) static let json: [String: Any] = {
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: vectors + "/derivations.json")),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
        return object
    }()

    static let cases: [Case] = {
        guard let list = json["cases"] as? [[String: Any]] else { return [] }
        return list.compactMap { c in
            guard let file = c["file"] as? String, let name = c["name"] as? String,
                  let drvPath = c["drv_path"] as? String, let outputs = c["outputs"] as? [String: String],
                  let masked = c["hash_modulo_masked_hex"] as? String,
                  let asInput = c["hash_modulo_as_input_hex"] as? String,
                  let fixed = c["fixed_output"] as? Bool else { return nil }
            return Case(file: file, name: name, drvPath: drvPath, outputs: outputs, maskedHex: masked, asInputHex: asInput, fixedOutput: fixed)
        }
    }()

    /// Loads input derivations from the vector folder by base name, the way the CLI loads
    /// them from beside the file.
    static func resolver(folder: String = "drv") -> DerivationHasher.Resolver {
        { (path: StorePath) throws(FormatError) -> Derivation in
            guard let bytes = try? DerivationFixtures.bytes("\(folder)/\(path.baseName)") else {
                throw .unresolvedDerivation(path.baseName, reason: "not among the vectors")
            }
            return try Derivation(aterm: bytes, store: .nix)
        }
    }
}
