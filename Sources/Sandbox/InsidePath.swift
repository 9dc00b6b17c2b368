/// Paths of the setup plan as bytes: the checks and the parent lookup run for every input of
/// every build, where Character-based `split` and `lastIndex(of:)` cost more than the syscalls.
enum InsidePath {
    /// Absolute, no NUL byte, no `.` or `..` component.
    static func isClean(_ path: String) -> Bool {
        if let clean = path.utf8.withContiguousStorageIfAvailable(isClean) { return clean }
        return Array(path.utf8).withUnsafeBufferPointer(isClean)
    }

    static func isClean(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard bytes.first == 0x2F else { return false }
        var start = 1
        for index in 1...bytes.count {
            if index < bytes.count && bytes[index] == 0 { return false }
            guard index == bytes.count || bytes[index] == 0x2F else { continue }
            let length = index - start
            if length == 1 && bytes[start] == 0x2E { return false }
            if length == 2 && bytes[start] == 0x2E && bytes[start + 1] == 0x2E { return false }
            start = index + 1
        }
        return true
    }

    /// `/a/b` → `/a`, `/a` → `/`.
    static func parent(_ path: String) -> String {
        guard let slash = path.utf8.lastIndex(of: 0x2F), slash != path.utf8.startIndex else { return "/" }
        return String(Substring(path.utf8[..<slash]))
    }

    /// `/a/b` → `b`; nil for `/`.
    static func baseName(_ path: String) -> String? {
        guard let slash = path.utf8.lastIndex(of: 0x2F) else { return nil }
        let name = path.utf8[path.utf8.index(after: slash)...]
        return name.isEmpty ? nil : String(Substring(name))
    }
}
