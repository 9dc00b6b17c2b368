/// A full disk (issue 3 acceptance), as root on small tmpfs mounts, always unmounted:
///
/// - the store alone on a 4 MiB tmpfs (state elsewhere): every add path — recursive NAR (running
///   out in the middle of a tree, or in one large file), other hash algorithms, flat, text, import with known info —
///   fails with an error that names ENOSPC; nothing new is registered, nothing but `.links` and
///   the earlier valid path is left in the store; smaller adds work afterwards;
/// - store and database on one full tmpfs: the contents fit but the database cannot grow, so
///   registration fails after the rename; the path must not stay visible, and the store works
///   again once space is freed.
import Testing
import Glibc
import StoreFormats
import LinuxSystem
@testable import LocalStore

@Suite(.tags(.large), .serialized, .enabled(if: geteuid() == 0)) struct DiskFullTests {
    /// Mounts a tmpfs of `size` at `path` for `body`, unmounting whatever happens.
    func withTmpfs<T>(_ path: String, size: String, _ body: () throws -> T) throws -> T {
        makeDirectories(path)
        try #require(shell("mount -t tmpfs -o size=\(size),mode=0755 cloister-test '\(path)' 2>&1 && echo mounted") == "mounted\n")
        defer { shell("umount '\(path)' || umount -l '\(path)'") }
        return try body()
    }

    func tree(files: Int, size: Int, salt: UInt8) throws -> [UInt8] {
        var w = NARWriter(sink: [UInt8]())
        try w.beginDirectory()
        for i in 0..<files {
            try w.beginEntry(name: Array("file\(i)".utf8))
            let bytes = [UInt8](repeating: salt &+ UInt8(i), count: size)
            try w.beginRegularFile(executable: false, size: UInt64(size))
            try bytes.withUnsafeBytes { try w.contents($0) }
            try w.endRegularFile(); try w.endEntry()
        }
        try w.endDirectory()
        return w.sink
    }

    func expectENOSPC(_ label: String, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("\(label): an add that cannot fit succeeded")
        } catch {
            let text = "\(error)"
            #expect(text.lowercased().contains("no space left on device"), "\(label): \(text)")
            if case LocalStoreError.diskFull = error {} else { Issue.record("\(label): not reported as a full disk: \(text)") }
        }
    }

    @Test func everyAddPathFailsCleanlyWhenTheStoreIsFull() throws {
        let t = try TestStore()
        try withTmpfs(t.root + "/store", size: "4m") {
            let store = try t.open()
            let first = try store.addToStore(nar: ByteArraySource(NAR.regularFile([UInt8](repeating: 1, count: 1 << 20))), name: "first", method: .flat)
            let big = [UInt8](repeating: 0x42, count: 5 << 20)
            let bigNAR = NAR.regularFile(big)
            let treeNAR = try tree(files: 4, size: 1_200_000, salt: 7)  // runs out at the third file
            expectENOSPC("recursive tree") { _ = try store.addToStore(nar: ByteArraySource(treeNAR), name: "tree", method: .recursive) }
            expectENOSPC("recursive file") { _ = try store.addToStore(nar: ByteArraySource(bigNAR), name: "big", method: .recursive) }
            expectENOSPC("recursive sha512") { _ = try store.addToStore(nar: ByteArraySource(treeNAR), name: "tree", method: .recursive, hashAlgorithm: .sha512) }
            expectENOSPC("flat") { _ = try store.addToStore(nar: ByteArraySource(bigNAR), name: "big", method: .flat) }
            expectENOSPC("text") { _ = try store.addTextToStore(name: "big.txt", contents: big) }
            let info = ValidPathInfo(path: fakePath("imported"), narHash: Hasher.hash(.sha256, treeNAR), narSize: UInt64(treeNAR.count))
            expectENOSPC("import") { try store.addToStore(info: info, nar: ByteArraySource(treeNAR)) }

            #expect(try store.queryAllValidPaths() == [first])
            // No temporaries and no lock files either: a failed add removes its `.lock`.
            let entries = listDirectory(t.root + "/store").sorted()
            #expect(entries == [".links", first.baseName].sorted())
            // Smaller adds still work, deduplication included.
            let small = try store.addToStore(nar: ByteArraySource(try tree(files: 2, size: 300_000, salt: 9)), name: "small", method: .recursive)
            _ = try store.addTextToStore(name: "note", contents: Array("fits".utf8))
            #expect(try store.isValidPath(small))
            var invariants = StoreInvariants(store)
            try invariants.checkValidPaths()
            #expect(invariants.problems == [])
        }
    }

    @Test func registrationOnAFullDiskLeavesNothingVisible() throws {
        let t = try TestStore()
        let mount = t.root + "/fs"
        try withTmpfs(mount, size: "8m") {
            let environment = ["NIX_STORE_DIR": mount + "/store", "GUIX_STATE_DIRECTORY": mount + "/state",
                               "GUIX_LOG_DIRECTORY": t.root + "/log", "GUIX_CONFIGURATION_DIRECTORY": t.root + "/etc"]
            var configuration = try StoreConfiguration(environment: environment)
            configuration.reservedSpace = 0
            let store = try LocalStore(configuration: configuration)
            let before = try store.addTextToStore(name: "before", contents: Array("x".utf8))
            // Fill the file system, then free exactly what the next object's contents need:
            // they fit, the database's next WAL pages do not.
            let filler = try FileDescriptor.open(mount + "/filler", [.writeOnly, .create], mode: 0o600)
            let chunk = [UInt8](repeating: 0, count: 4096)
            while (try? filler.writeAll(chunk)) != nil {}
            let contents = [UInt8](repeating: 0x43, count: 16 * 4096)
            try filler.truncate(to: try filler.status().size - Int64(contents.count) - 4096)
            var failed = false, message = ""
            do { _ = try store.addTextToStore(name: "squeezed", contents: contents) } catch {
                failed = true
                message = "\(error)"
                #expect("\(error)".lowercased().contains("full") || "\(error)".lowercased().contains("no space"), "\(error)")
            }
            let path = try store.storeDirectory.makeTextPath(name: "squeezed", contents: contents, references: [], rules: .nix)
            if failed {
                #expect(try !store.isValidPath(path))
                #expect(access(path.absolute(in: store.storeDirectory), F_OK) != 0, "unregistered path left visible")
            } else {
                #expect(try store.isValidPath(path))  // SQLite found room after all: then it is whole
            }
            #expect(listDirectory(mount + "/store").filter { $0.hasPrefix(".tmp") } == [])
            // Space back: everything works and verifies.
            try filler.close()
            unlink(mount + "/filler")
            _ = try store.addTextToStore(name: "squeezed", contents: contents)
            #expect(try store.isValidPath(path) && store.isValidPath(before))
            var invariants = StoreInvariants(store)
            try invariants.checkValidPaths()
            #expect(invariants.problems == [])
            print("disk full during registration: \(failed ? "refused (\(message)), nothing visible" : "registration found room")")
        }
    }

    /// Repair of a valid path whose registration then fails (the database cannot grow): the
    /// valid path must still be there afterwards. The old copy is pinned by a hard link outside
    /// the store so swapping it out frees nothing for the database.
    @Test func repairThatCannotRegisterKeepsTheValidPath() throws {
        let t = try TestStore()
        let mount = t.root + "/fs"
        try withTmpfs(mount, size: "8m") {
            let environment = ["NIX_STORE_DIR": mount + "/store", "GUIX_STATE_DIRECTORY": mount + "/state",
                               "GUIX_LOG_DIRECTORY": t.root + "/log", "GUIX_CONFIGURATION_DIRECTORY": t.root + "/etc"]
            var configuration = try StoreConfiguration(environment: environment)
            configuration.reservedSpace = 0
            configuration.deduplicate = false
            let store = try LocalStore(configuration: configuration)
            let old = NAR.regularFile([UInt8](repeating: 0x41, count: 16 * 4096))
            let new = NAR.regularFile([UInt8](repeating: 0x42, count: 16 * 4096))
            let path = fakePath("precious")
            try store.addToStore(info: ValidPathInfo(path: path, narHash: Hasher.hash(.sha256, old), narSize: UInt64(old.count)), nar: ByteArraySource(old))
            let abs = path.absolute(in: store.storeDirectory)
            #expect(link(abs, mount + "/pin") == 0)
            let filler = try FileDescriptor.open(mount + "/filler", [.writeOnly, .create], mode: 0o600)
            let chunk = [UInt8](repeating: 0, count: 4096)
            while (try? filler.writeAll(chunk)) != nil {}
            try filler.truncate(to: try filler.status().size - 16 * 4096)
            var message = "registered"
            do {
                try store.addToStore(info: ValidPathInfo(path: path, narHash: Hasher.hash(.sha256, new), narSize: UInt64(new.count)),
                                     nar: ByteArraySource(new), repair: true)
            } catch { message = "\(error)" }
            #expect(try store.isValidPath(path))
            #expect(access(abs, F_OK) == 0, "a repair that could not register deleted the valid path (\(message))")
            try filler.close()
            unlink(mount + "/filler")
            var invariants = StoreInvariants(store)  // and it is the registered copy
            try invariants.checkValidPaths()
            #expect(invariants.problems == [])
            print("repair on a full disk: \(message)")
        }
    }
}
