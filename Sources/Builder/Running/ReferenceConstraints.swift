/// The derivation env attributes that restrict what outputs may refer to (§4.2 step 10):
/// `allowedReferences`, `allowedRequisites` (closure), `disallowedReferences`,
/// `disallowedRequisites`. Each is a space-separated list of store paths or output names.
/// A violation is ``output (`X') is not allowed to refer to path `Y'``.
import StoreFormats
import LocalStore

struct ReferenceConstraints {
    let plan: BuildPlan
    let store: SharedStore

    func check(_ infos: [ValidPathInfo]) throws(BuildError) {
        let attributes = ["allowedReferences", "allowedRequisites", "disallowedReferences", "disallowedRequisites"]
        guard attributes.contains(where: { plan.derivation[env: $0] != nil }) else { return }
        let newRefs = Dictionary(infos.map { ($0.path, $0.references) }, uniquingKeysWith: { a, _ in a })
        for info in infos {
            let absolute = info.path.absolute(in: plan.storeDirectory)
            for attribute in attributes {
                guard let value = plan.derivation[env: attribute] else { continue }
                let listed = try resolve(value)
                let used = attribute.hasSuffix("Requisites") ? try closure(info.references, newRefs: newRefs) : info.references
                let allowed = attribute.hasPrefix("allowed")
                for path in used.sorted() where listed.contains(path) != allowed {
                    throw .outputRejected("output (`\(absolute)') is not allowed to refer to path `\(path.absolute(in: plan.storeDirectory))'")
                }
            }
        }
    }

    private func resolve(_ value: [UInt8]) throws(BuildError) -> Set<StorePath> {
        var result = Set<StorePath>()
        for token in value.split(whereSeparator: { $0 == 0x20 || $0 == 0x0A || $0 == 0x09 }) {
            let text = String(decoding: token, as: UTF8.self)
            if let output = plan.outputs[text] {
                result.insert(output)
            } else {
                do { result.insert(try StorePath(parsing: text, in: plan.storeDirectory, rules: .nix)) }
                catch { throw .buildFailed("derivation contains an invalid reference specifier `\(text)'") }
            }
        }
        return result
    }

    /// Closure over the new outputs' references and the database.
    private func closure(_ start: Set<StorePath>, newRefs: [StorePath: Set<StorePath>]) throws(BuildError) -> Set<StorePath> {
        var seen = Set<StorePath>()
        var pending = Array(start)
        while let path = pending.popLast() {
            guard seen.insert(path).inserted else { continue }
            if let refs = newRefs[path] { pending += refs; continue }
            pending += try store.query { try $0.queryReferences(path) }
        }
        return seen
    }
}
