import Testing
import Glibc
import StoreFormats
@testable import LocalStore

/// A user who may not write the database directory still opens the store — read-only, as
/// guix-daemon does when `big-lock` gives EACCES — and can query it but not change it.
@Suite(.tags(.large), .serialized, .enabled(if: geteuid() == 0 && Worker.path != nil)) struct ReadOnlyStoreTests {
    @Test func anotherUserQueriesButCannotWrite() throws {
        let t = try TestStore()
        #expect(chmod(t.root, 0o755) == 0)
        let store = try t.open()  // kept open: its WAL files exist, as while a daemon runs
        #expect(!store.isReadOnly)
        let path = try store.addTextToStore(name: "kept", contents: Array("kept\n".utf8))
        let absolute = path.absolute(in: store.storeDirectory)
        let env = t.environment.map { "\($0.key)='\($0.value)'" }.joined(separator: " ")
        let asNobody = "env -i PATH=/usr/bin:/bin \(env) setpriv --reuid=65534 --regid=65534 --clear-groups -- '\(Worker.path ?? "")'"

        let query = shell("\(asNobody) query-valid '\(absolute)' 2>&1")
        #expect(query == "valid\nread-only\n")
        let missing = shell("\(asNobody) query-valid '\(fakePath("absent").absolute(in: store.storeDirectory))' 2>&1")
        #expect(missing == "invalid\nread-only\n")

        let add = shell("\(asNobody) add-text new 'new text' 2>&1; echo status=$?")
        #expect(add?.hasSuffix("status=1\n") == true, "\(add ?? "nil")")
        #expect(add?.contains("is read-only for this user") == true, "\(add ?? "nil")")
        // Nothing changed: the path the reader tried to add is neither on disk nor registered.
        let wanted = try store.storeDirectory.makeTextPath(name: "new", contents: Array("new text".utf8), references: [])
        #expect(try !store.isValidPath(wanted))
        #expect(access(wanted.absolute(in: store.storeDirectory), F_OK) != 0)
        // With no writer holding the WAL index, a reader still gets the committed state.
        let closed = try TestStore()
        #expect(chmod(closed.root, 0o755) == 0)
        let committed = try closed.populate { try $0.addTextToStore(name: "committed", contents: Array("c\n".utf8)) }
        let closedEnv = closed.environment.map { "\($0.key)='\($0.value)'" }.joined(separator: " ")
        let reader = "env -i PATH=/usr/bin:/bin \(closedEnv) setpriv --reuid=65534 --regid=65534 --clear-groups -- '\(Worker.path ?? "")'"
        let seen = shell("\(reader) query-valid '\(committed.absolute(in: closed.layout.storeDirectory))' 2>&1")
        #expect(seen == "valid\nread-only\n", "\(seen ?? "nil")")
        // The owner still writes.
        _ = try store.addTextToStore(name: "after", contents: Array("after\n".utf8))
    }
}
