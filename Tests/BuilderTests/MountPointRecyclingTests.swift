import Testing
import Glibc
import StoreFormats
import LocalStore
import LinuxSystem
@testable import Builder

/// A recycled chroot keeps its input mount points (SpareDirectories): the next build binds
/// over the ones it needs (same inodes) and never sees the others. In BuildTests' suite: they
/// share the build users, whose processes each build kills.
extension BuildTests {
    @Test(arguments: Mode.allCases)
    func chainedBuildsReuseMountPointsAndSeeOnlyTheirInputs(_ mode: Mode) throws {
        let f = try BuildFixture()
        let s = try settings(f, mode)
        let store = f.root + "/store"
        func build(_ drv: StorePath) throws -> String {
            let result = Builder(store: f.store, settings: s).build([.derivation(drv)])[0]
            #expect(result.status == .built, "\(result.errorMessage)")
            Janitor.shared.waitUntilIdle()
            return f.absolute(try #require(f.output(drv)))
        }
        /// Inodes of the spare chroot's mount points, by name.
        func mountPoints() throws -> [String: UInt64] {
            let spares = SpareDirectories.shared.names(.chroot, in: store)
            try #require(spares.count == 1)
            let fd = try FileDescriptor.open(store, [.readOnly, .directory]).openDirectory(at: spares[0]).openDirectory(at: "store")
            return Dictionary(uniqueKeysWithValues: try fd.entries().map { (String(decoding: $0.name, as: UTF8.self), $0.inode) })
        }
        let listing = "mkdir $out; ls -a $NIX_STORE > $out/ls"
        let a = try f.derivation("a", script: "echo a > $out")
        let outA = try build(a)
        let b = try f.derivation("b", script: listing + "; cat $in0 > $out/a", inputs: [a])
        let outB = try build(b)
        let kept = try mountPoints()
        #expect(Set(kept.keys) == [f.busybox.baseName, String(outA.dropFirst(store.count + 1))])

        let c = try f.derivation("c", script: listing + "; cat $in0 > $out/a", inputs: [a, b])
        let outC = try build(c)
        let names = { (paths: [String]) in ([".", ".."] + paths.map { String($0.dropFirst(store.count + 1)) }.sorted()).joined(separator: "\n") + "\n" }
        #expect(shell("cat '\(outB)/ls'") == names([f.absolute(f.busybox), outA, outB]))
        #expect(shell("cat '\(outC)/ls'") == names([f.absolute(f.busybox), outA, outB, outC]))
        #expect(shell("cat '\(outC)/a'") == "a\n")
        // c bound over b's mount points: the same inodes, one more for its own new input.
        let after = try mountPoints()
        for (name, inode) in kept { #expect(after[name] == inode, "\(name)") }
        #expect(after.count == 3)

        // Fewer inputs: the unused mount points are gone before the builder looks.
        let d = try f.derivation("d", script: listing)
        let outD = try build(d)
        #expect(shell("cat '\(outD)/ls'") == names([f.absolute(f.busybox), outD]))
        #expect(Set(try mountPoints().keys) == [f.busybox.baseName])
        Builder.waitForCleanup()
    }
}
