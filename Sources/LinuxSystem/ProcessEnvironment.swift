import Glibc

/// The calling process's identity and environment, read once at startup by the executables and
/// handed to pure parsers (`DaemonCommandLine.parse`) as plain values.
public enum ProcessEnvironment {
    /// `environ` as a dictionary. Entries without `=` are skipped; for a repeated name the first
    /// one wins, as getenv(3) does. Values that are not UTF-8 are decoded with replacement.
    public static func current() -> [String: String] {
        var result: [String: String] = [:]
        var cursor = environ
        while let entry = cursor.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                let name = String(text[..<equals])
                if result[name] == nil { result[name] = String(text[text.index(after: equals)...]) }
            }
            cursor += 1
        }
        return result
    }

    public static var processID: Int32 { getpid() }
    public static var effectiveUserID: UInt32 { geteuid() }
    public static var realUserID: UInt32 { getuid() }
}
