import Glibc
import LinuxSystem

/// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on deinit.
final class TemporaryDirectory {
    let path: String
    let descriptor: FileDescriptor

    /// Under `base` if given (e.g. /dev/shm for syscall-heavy loops), else $TMPDIR or /tmp.
    init(base: String? = nil) throws {
        let base = base ?? getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array("\(base)/cloister-test-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw SystemError("mkdtemp", errno: .current) }
        path = String(cString: made)
        descriptor = try FileDescriptor.currentDirectory.openDirectory(at: path)
    }

    deinit {
        let parent = String(path[..<path.lastIndex(of: "/")!])
        let name = Array(path[path.index(after: path.lastIndex(of: "/")!)...].utf8)
        if let directory = try? FileDescriptor.currentDirectory.openDirectory(at: parent) {
            try? directory.removeTree(at: name)
        }
    }
}
