import Foundation
import Glibc
import StoreFormats
import Testing
import WorkerProtocol

/// Signed export and import between two `cloister-daemon` processes, driven by the CLI
/// (formats.md §3.5, §5.4; guix-daemon.md §7.4): `archive --generate-key` writes Guix's key
/// files, `--export` has the source daemon sign each item (always, as guix archive), and `--import
/// --require-signatures` (the Guix dialect) makes the target daemon check every item against
/// its ACL before anything is registered. Store paths name their store, so the two daemons serve
/// the same store prefix one after the other, each with its own database, state and keys: the
/// source is stopped and its store emptied before the target starts. Root only, like the other
/// CLI daemon tests.
@Suite(.serialized, .tags(.large), .enabled(if: geteuid() == 0 && CLIDaemon.binariesExist))
final class SignedArchiveTests {
    let storeRoot: String
    var store: String { storeRoot + "/store" }
    /// The daemon being driven; `switchToTarget()` replaces the source by the target.
    var source: CLIDaemon
    var target: CLIDaemon { source }

    init() throws {
        var template = Array("/var/tmp/cloister-signed-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw CLIFailure("mkdtemp failed") }
        storeRoot = String(cString: p)
        chmod(storeRoot, 0o755)
        source = try CLIDaemon(storeDirectory: storeRoot + "/store")
    }

    deinit {
        // Stop the daemon first: a running one may still create entries in the store.
        source.process.terminate()
        source.process.waitUntilExit()
        _ = source.shell("chmod -R u+w '\(storeRoot)' 2>/dev/null; rm -rf '\(storeRoot)'")
    }

    /// Stops the source daemon, empties the store, starts a fresh daemon on the same prefix.
    func switchToTarget() throws {
        source.process.terminate()
        source.process.waitUntilExit()
        let emptied = source.shell("chmod -R u+w '\(store)' && rm -rf '\(store)'")
        #expect(emptied.status == 0)
        source = try CLIDaemon(storeDirectory: store)
    }

    func mode(_ path: String) -> Int? {
        (try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? nil
    }

    /// Adds a file and a tree naming it to the current daemon's store; returns both paths.
    func addItems() throws -> (file: String, tree: String) {
        let file = source.cloister(["add", try source.file("signed.txt", "signed hello\n")]).out.trimmingCharacters(in: .whitespacesAndNewlines)
        try FileManager.default.createDirectory(atPath: source.root + "/tree", withIntermediateDirectories: true)
        _ = try source.file("tree/uses", "see \(file)\n")
        let tree = source.cloister(["add", source.root + "/tree"]).out.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(file.hasSuffix("-signed.txt") && tree.hasSuffix("-tree"))
        return (file, tree)
    }

    /// Signed: `cloister archive --export` (Guix dialect, always signs). Unsigned: what a Nix
    /// client gets, asking for a signature or not (Nix 2.8's daemon ignores the sign word).
    func export(_ paths: [String], sign: Bool, to name: String) throws -> [UInt8] {
        guard sign else {
            let directory = try StoreDirectory(store)
            let fd = try SocketFD(connectingTo: source.root + "/state/daemon-socket/socket")
            let client = try WorkerClient(stream: fd, storeDirectory: directory, options: .nixDefault())
            var archive: [UInt8] = []
            for path in paths {
                let item = BufferSink(), asked = BufferSink()
                _ = try client.call(.exportPath(try StorePath(parsing: path, in: directory), sign: false), dataSink: item)
                _ = try client.call(.exportPath(try StorePath(parsing: path, in: directory), sign: true), dataSink: asked)
                #expect(asked.bytes == item.bytes)
                archive += [1, 0, 0, 0, 0, 0, 0, 0] + item.bytes
            }
            return archive + [0, 0, 0, 0, 0, 0, 0, 0]
        }
        let archive = source.root + "/" + name
        let run = source.shell("'\(CLIDaemon.cloisterBinary)' archive --export \(paths.map { "'\($0)'" }.joined(separator: " ")) > '\(archive)'")
        #expect(run.status == 0, "\(run.err)")
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: archive)))
    }

    func importInto(_ daemon: CLIDaemon, _ bytes: [UInt8], requireSignatures: Bool = true) throws -> CLIDaemon.Run {
        let file = daemon.root + "/incoming-\(UUID().uuidString)"
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return daemon.shell("'\(CLIDaemon.cloisterBinary)' archive --import \(requireSignatures ? "--require-signatures" : "") < '\(file)'")
    }

    func isValid(_ daemon: CLIDaemon, _ path: String) -> Bool {
        daemon.cloister(["query", "--valid", path]).status == 0
    }

    @Test func generateKeyWritesGuixKeyFiles() throws {
        let generated = source.cloister(["archive", "--generate-key"])
        #expect(generated.status == 0)
        #expect(generated.err == "Please wait while gathering entropy to generate the key pair;\nthis may take time...\n")
        let etc = source.root + "/etc"
        #expect(mode(etc + "/signing-key.pub") == 0o444 && mode(etc + "/signing-key.sec") == 0o400)
        let publicKey = try GuixPublicKey(parsing: [UInt8](try Data(contentsOf: URL(fileURLWithPath: etc + "/signing-key.pub"))))
        #expect(publicKey.q?.count == 32)
        let secret = try String(contentsOfFile: etc + "/signing-key.sec", encoding: .utf8)
        #expect(secret.hasPrefix("(private-key \n (ecc \n  (curve Ed25519)\n  (q #") && secret.contains("(d #"))
        let again = source.cloister(["archive", "--generate-key"])
        #expect(again.status == 1 && again.err == "cloister: archive: key pair exists under '\(etc)'; remove it first\n")
        let notKey = source.shell("echo '(private-key (ecc))' | '\(CLIDaemon.cloisterBinary)' archive --authorize")
        #expect(notKey.status == 1 && notKey.err == "cloister: archive: s-expression does not denote a public key\n")
    }

    @Test func signedRoundTripAndRefusals() throws {
        #expect(source.cloister(["archive", "--generate-key"]).status == 0)
        let (file, tree) = try addItems()
        let contents = try String(contentsOfFile: tree + "/uses", encoding: .utf8)
        let signed = try export([file, tree], sign: true, to: "signed.export")
        let unsigned = try export([file], sign: false, to: "unsigned.export")
        // Items are imported one by one (as guix-daemon does), so the refusals below use a
        // one-item archive: the refused item is the whole archive.
        let signedFile = try export([file], sign: true, to: "signed-file.export")
        let publicKeyText = try String(contentsOfFile: source.root + "/etc/signing-key.pub", encoding: .utf8)
        let publicKey = try GuixPublicKey(parsing: Array(publicKeyText.utf8))

        // Every item carries a signature that StoreFormats' own check accepts for that key.
        let reader = ExportReader(source: ByteArraySource(signed), storeDirectory: try StoreDirectory(store), rules: .guix)
        var validator = NARValidator()
        var items = 0
        while let trailer = try reader.next(into: &validator) {
            let signature = try #require(trailer.signature)
            try ArchiveAuthentication.verify(signature, digest: try #require(trailer.signedDigest), authorizedKeys: [publicKey])
            items += 1
        }
        #expect(items == 2)

        try switchToTarget()
        #expect(!isValid(target, file) && !isValid(target, tree))
        // The target has no ACL and no key of its own: the signer is not authorised.
        let refused = try importInto(target, signed)
        #expect(refused.status == 1)
        #expect(refused.err == "cloister: archive: unauthorized public key: " + publicKeyText + "\n")
        #expect(!isValid(target, file) && !isValid(target, tree))
        #expect(!FileManager.default.fileExists(atPath: file))

        // Authorise the source's key (guix archive --authorize), then tamper and retry.
        let keyFile = try target.file("source.pub", publicKeyText)
        let authorize = target.shell("'\(CLIDaemon.cloisterBinary)' archive --authorize < '\(keyFile)'")
        #expect(authorize.status == 0 && mode(target.root + "/etc/acl") == 0o644)

        var tamperedNAR = signedFile
        let at = try #require(find(Array("signed hello".utf8), in: tamperedNAR))
        tamperedNAR[at] = UInt8(ascii: "S")
        let trojan = try importInto(target, tamperedNAR)
        #expect(trojan.status == 1 && trojan.err == "cloister: archive: " + ArchiveRejection.hashMismatch.description + "\n")
        #expect(!isValid(target, file) && !isValid(target, tree))

        var tamperedSignature = signedFile
        // libgcrypt prints `s` as #hex#, a "string" or |base64| depending on its bytes: change
        // the first letter or digit of the value (not an escape) to another of its kind.
        var s = try #require(find(Array("(s ".utf8), in: tamperedSignature)) + 3
        func isAlphanumeric(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c | 0x20 >= 0x61 && c | 0x20 <= 0x7a) }
        while !isAlphanumeric(tamperedSignature[s]) || tamperedSignature[s - 1] == UInt8(ascii: "\\") { s += 1 }
        let c = tamperedSignature[s]
        tamperedSignature[s] = c == UInt8(ascii: "1") ? UInt8(ascii: "2") : c == UInt8(ascii: "a") ? UInt8(ascii: "b")
            : c == UInt8(ascii: "A") ? UInt8(ascii: "B") : (c >= 0x30 && c <= 0x39) ? UInt8(ascii: "1") : (c & 0x20) | UInt8(ascii: "A")
        let invalid = try importInto(target, tamperedSignature)
        #expect(invalid.status == 1 && invalid.err.hasPrefix("cloister: archive: invalid signature: (signature \n (data \n"))
        #expect(!isValid(target, file))

        let lacking = try importInto(target, unsigned)
        #expect(lacking.status == 1 && lacking.err == "cloister: archive: imported archive of `\(file)' lacks a signature\n")
        #expect(!isValid(target, file))
        // Nothing half-imported is left in the store directory either.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: store).filter { !$0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "\(leftovers)")

        // The genuine archive: both items, same contents.
        let imported = try importInto(target, signed)
        #expect(imported.status == 0, "\(imported.err)")
        #expect(Set(imported.out.split(separator: "\n").map(String.init)) == [file, tree])
        #expect(isValid(target, file) && isValid(target, tree))
        #expect((try? String(contentsOfFile: tree + "/uses", encoding: .utf8)) == contents)
        // The trusted Nix-dialect import still takes unsigned archives (nix-store --import).
        #expect(target.cloister(["gc", "--delete", tree]).status == 0 && target.cloister(["gc", "--delete", file]).status == 0)
        let nixImport = try importInto(target, unsigned, requireSignatures: false)
        #expect(nixImport.status == 0 && nixImport.out == file + "\n")
    }

    @Test func signingNeedsASecretKey() throws {
        let (file, _) = try addItems()
        // `guix archive --export` always signs, so there is no export without a key.
        let missing = source.cloister(["archive", "--export", file])
        #expect(missing.status == 1)
        #expect(missing.err == "cloister: archive: getting status of `\(source.root)/etc/signing-key.sec': No such file or directory\n")
        #expect(source.cloister(["archive", "--generate-key"]).status == 0)
        let secret = source.root + "/etc/signing-key.sec"
        chmod(secret, 0o440)
        let exposed = source.cloister(["archive", "--export", file])
        #expect(exposed.status == 1 && exposed.err == "cloister: archive: file `\(secret)' should be secret (inaccessible to everybody else)!\n")
        chmod(secret, 0o400)
        #expect(source.cloister(["archive", "--export", file]).status == 0)
        // `--sign`, the older spelling, is still accepted.
        #expect(source.cloister(["archive", "--export", "--sign", file]).status == 0)
    }

    /// A client speaking 0x164 as guix/store.scm does: `export-paths` with `sign? #t` (the
    /// client writes the `1` before each item and the final `0`), `import-paths` into the next
    /// daemon, references kept; an unsigned archive is refused even for this trusted (root) client.
    @Test func guixClientExportsSignedAndImports() throws {
        #expect(source.cloister(["archive", "--generate-key"]).status == 0)
        let publicKeyText = try String(contentsOfFile: source.root + "/etc/signing-key.pub", encoding: .utf8)
        let directory = try StoreDirectory(store)
        func guixClient(_ daemon: CLIDaemon) throws -> (WorkerClient, SocketFD) {
            let fd = try SocketFD(connectingTo: daemon.root + "/state/daemon-socket/socket")
            return (try WorkerClient(stream: fd, version: .guix, storeDirectory: directory, options: .guixDefault), fd)
        }
        let (archive, unsigned, dep, top): ([UInt8], [UInt8], StorePath, StorePath) = try {
            let (c, fd) = try guixClient(source)
            defer { _ = fd }
            let dep = try c.addTextToStore(name: "dep", text: Array("dependency\n".utf8))
            let top = try c.addTextToStore(name: "top", text: Array("uses \(dep.absolute(in: directory))\n".utf8), references: [dep])
            var signed: [UInt8] = [], plain: [UInt8] = []
            for p in [dep, top] {
                let sink = BufferSink()
                #expect(try c.call(.exportPath(p, sign: true), dataSink: sink) == .int(1))
                signed += [1, 0, 0, 0, 0, 0, 0, 0] + sink.bytes
                let unsignedSink = BufferSink()
                _ = try c.call(.exportPath(p, sign: false), dataSink: unsignedSink)
                plain += [1, 0, 0, 0, 0, 0, 0, 0] + unsignedSink.bytes
            }
            return (signed + [0, 0, 0, 0, 0, 0, 0, 0], plain + [0, 0, 0, 0, 0, 0, 0, 0], dep, top)
        }()

        try switchToTarget()
        _ = try target.file("source.pub", publicKeyText)
        #expect(target.shell("'\(CLIDaemon.cloisterBinary)' archive --authorize < '\(target.root)/source.pub'").status == 0)
        let (c, fd) = try guixClient(target)
        defer { _ = fd }
        #expect(throws: WorkerProtocolError.remote(message: "imported archive of `\(dep.absolute(in: directory))' lacks a signature", status: 1)) {
            try c.call(.importPaths, dataSource: MemoryStream(input: unsigned))
        }
        #expect(try c.isValidPath(dep) == false)
        let reply = try c.call(.importPaths, dataSource: MemoryStream(input: archive, maxReadSize: 4093))
        #expect(reply == .strings([dep, top].map { $0.absolute(in: directory) }))
        #expect(try c.strings(.queryReferences(top)) == [dep.absolute(in: directory)])
        #expect((try? String(contentsOfFile: top.absolute(in: directory), encoding: .utf8)) == "uses \(dep.absolute(in: directory))\n")
    }

    /// Guix's `current-acl`: with no `acl` file the daemon's own public key is the ACL, so a
    /// daemon imports what it signed; once an ACL names other keys only, its own are refused.
    @Test func ownKeyIsTheACLUntilThereIsOne() throws {
        #expect(source.cloister(["archive", "--generate-key"]).status == 0)
        let (file, _) = try addItems()
        let signed = try export([file], sign: true, to: "own.export")
        #expect(source.cloister(["gc", "--delete", file]).status == 0 && !isValid(source, file))
        let own = try importInto(source, signed)
        #expect(own.status == 0 && own.out == file + "\n")

        let stranger = try GuixKeyPair.generate().publicKey
        let acl = "(acl (entry \(stranger.description) (tag (guix import))))"
        _ = try source.file("etc/acl", acl)
        #expect(source.cloister(["gc", "--delete", file]).status == 0)
        let refused = try importInto(source, signed)
        #expect(refused.status == 1 && refused.err.hasPrefix("cloister: archive: unauthorized public key: (public-key \n"))
        #expect(!isValid(source, file))
        // An ACL that is not one is an error, not an empty list.
        _ = try source.file("etc/acl", "(acl (entry (public-key (ecc (curve Ed25519) (q #00#))) (tag (guix import)))")
        let broken = try importInto(source, signed)
        #expect(broken.status == 1 && broken.err.contains("invalid access-control list"))
    }

    /// guix-daemon keeps a signed item's deriver only when that derivation is valid locally.
    @Test func invalidDeriverIsDropped() throws {
        #expect(source.cloister(["archive", "--generate-key"]).status == 0)
        let (file, _) = try addItems()
        let plain = try export([file], sign: false, to: "plain.export")
        let secret = try GuixSecretKey(parsing: [UInt8](try Data(contentsOf: URL(fileURLWithPath: source.root + "/etc/signing-key.sec"))))
        let pair = GuixKeyPair(publicKey: try GuixPublicKey(parsing: [UInt8](try Data(contentsOf: URL(fileURLWithPath: source.root + "/etc/signing-key.pub")))),
                               secretKey: secret)
        let directory = try StoreDirectory(store)
        // The item again, now naming a deriver that exists nowhere, signed with the daemon's key.
        let reader = ExportReader(source: ByteArraySource(plain), storeDirectory: directory, rules: .guix)
        var nar = NARWriter(sink: [UInt8]())
        var trailer = try #require(try reader.next(into: &nar))
        trailer.deriver = try StorePath(baseName: "0000000000000000000000000000000a-gone.drv")
        func write(_ t: ExportTrailer) throws -> [UInt8] {
            var w = ExportWriter(sink: [UInt8](), storeDirectory: directory)
            try w.beginItem(); try w.writeNAR(nar.sink); try w.endItem(t); try w.finish()
            return w.sink
        }
        var ignore = NARValidator()
        let digest = try #require(try ExportReader(source: ByteArraySource(try write(trailer)), storeDirectory: directory, rules: .guix)
            .next(into: &ignore)?.signedDigest)
        trailer.signature = try pair.sign(digest)
        let archive = try write(trailer)
        #expect(source.cloister(["gc", "--delete", file]).status == 0)
        let imported = try importInto(source, archive)
        #expect(imported.status == 0, "\(imported.err)")
        #expect(source.cloister(["query", "--deriver", file]).out == "unknown-deriver\n")
    }

    func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        return (0...(haystack.count - needle.count)).first { haystack[$0..<$0 + needle.count].elementsEqual(needle) }
    }
}

/// An in-memory byte array as a NAR byte source.
struct ByteArraySource: NARByteSource {
    let bytes: [UInt8]
    var position = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, bytes.count - position)
        bytes.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[position..<position + n])) }
        position += n
        return n
    }
}
