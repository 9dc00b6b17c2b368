/// `exportReferencesGraph` (guix-daemon.md §1.1): the drv env holds pairs `name path …`; for
/// each, the file `<build tree>/<name>` gets the closure of `path` (plus the outputs of any
/// .drv in it) in `makeValidityRegistration` form without hashes and derivers: per path
/// `path\n`, an empty deriver line, the reference count, then each reference. Files are
/// created fd-relative with O_CREAT|O_EXCL|O_NOFOLLOW and handed to the build user with fchown
/// (SEC-27); names must be plain store-name components.
import StoreFormats
import LocalStore
import LinuxSystem
import Sandbox

enum ReferencesGraph {
    static func write(plan: BuildPlan, store: SharedStore, buildDirectory: BuildDirectory, owner: Ownership?) throws(BuildError) {
        guard let value = plan.derivation[env: "exportReferencesGraph"] else { return }
        let tokens = value.split(whereSeparator: { $0 == 0x20 || $0 == 0x0A || $0 == 0x09 }).map { String(decoding: $0, as: UTF8.self) }
        guard tokens.count % 2 == 0 else {
            throw .buildFailed("odd number of tokens in `exportReferencesGraph': `\(String(decoding: value, as: UTF8.self))'")
        }
        let storeDirectory = plan.storeDirectory
        for index in stride(from: 0, to: tokens.count, by: 2) {
            let name = tokens[index], pathText = tokens[index + 1]
            guard (try? StorePathName.validate(name, rules: .guix)) != nil, !name.hasPrefix(".") else {
                throw .buildFailed("invalid file name `\(name)' in `exportReferencesGraph'")
            }
            let path: StorePath
            do { path = try StorePath(parsing: pathText, in: storeDirectory, rules: .nix) } catch {
                throw .buildFailed("file `\(pathText)' in `exportReferencesGraph' is not in the store")
            }
            guard try store.query({ try $0.isValidPath(path) }) else {
                throw .buildFailed("path `\(pathText)' in `exportReferencesGraph' is not valid")
            }
            let closure = try store.query { try $0.queryRequisites([path], includeOutputs: true) }
            var text = ""
            for member in closure.sorted() {
                let references = try store.query { try $0.queryReferences(member) }
                text += member.absolute(in: storeDirectory) + "\n\n\(references.count)\n"
                for reference in references.sorted() { text += reference.absolute(in: storeDirectory) + "\n" }
            }
            do {
                let top = try FileDescriptor.open(buildDirectory.topPath, [.readOnly, .directory, .noFollow])
                let file = try top.open(at: Array(name.utf8), [.writeOnly, .create, .exclusive, .noFollow], mode: 0o644)
                try file.writeAll(Array(text.utf8))
                if let owner { try file.changeOwner(owner.uid, owner.gid) }
            } catch { throw .system(error) }
        }
    }
}
