import Glibc

/// An errno value with a readable name; `description` is the C library's message for it.
public struct Errno: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The calling thread's current errno; read it immediately after the failing call.
    public static var current: Errno { Errno(rawValue: errno) }

    public static let interrupted = Errno(rawValue: EINTR)
    public static let noSuchFile = Errno(rawValue: ENOENT)
    public static let fileExists = Errno(rawValue: EEXIST)
    public static let notDirectory = Errno(rawValue: ENOTDIR)
    public static let isDirectory = Errno(rawValue: EISDIR)
    public static let permissionDenied = Errno(rawValue: EACCES)
    public static let notPermitted = Errno(rawValue: EPERM)
    public static let tooManySymbolicLinks = Errno(rawValue: ELOOP)
    public static let directoryNotEmpty = Errno(rawValue: ENOTEMPTY)
    public static let invalidArgument = Errno(rawValue: EINVAL)
    public static let wouldBlock = Errno(rawValue: EAGAIN)
    public static let badFileDescriptor = Errno(rawValue: EBADF)
    public static let crossDevice = Errno(rawValue: EXDEV)
    public static let tooManyLinks = Errno(rawValue: EMLINK)
    public static let noSpace = Errno(rawValue: ENOSPC)
    public static let nameTooLong = Errno(rawValue: ENAMETOOLONG)
    public static let noSuchProcess = Errno(rawValue: ESRCH)

    public var description: String { String(cString: strerror(rawValue)) }
}

/// A failed system call: which call, on which path (if any), and the errno it set.
/// The one error type of LinuxSystem; its description is one readable line.
public struct SystemError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The libc function that failed, e.g. "openat".
    public let call: String
    /// The path or entry name it was given, decoded for display (non-UTF-8 bytes replaced).
    public let path: String?
    public let errno: Errno

    public init(_ call: String, path: String? = nil, errno: Errno) {
        self.call = call
        self.path = path
        self.errno = errno
    }

    public init(_ call: String, name: [UInt8], errno: Errno) {
        self.init(call, path: String(decoding: name, as: UTF8.self), errno: errno)
    }

    public var description: String {
        if let path { return "\(call) '\(path)': \(errno)" }
        return "\(call): \(errno)"
    }
}

/// Runs a libc call that returns -1 and sets errno on failure, retrying on EINTR (an `int`
/// or, as `retryingSize`, an `ssize_t` result). Every wrapper in this module goes through here.
@inline(__always)
func retrying<Result: BinaryInteger>(_ call: String, path: @autoclosure () -> String? = nil, _ body: () -> Result) throws(SystemError) -> Result {
    while true {
        let result = body()
        if result >= 0 { return result }
        let error = Errno.current
        if error == .interrupted { continue }
        throw SystemError(call, path: path(), errno: error)
    }
}

/// `retrying` for calls returning ssize_t (read, write, readlinkat).
@inline(__always)
func retryingSize(_ call: String, path: @autoclosure () -> String? = nil, _ body: () -> Int) throws(SystemError) -> Int {
    try retrying(call, path: path(), body)
}

/// Runs `body` with `name` as a NUL-terminated C string. A name containing NUL cannot reach
/// the kernel intact, so it is refused as EINVAL rather than silently truncated.
@inline(__always)
func withCName<R>(_ call: String, _ name: [UInt8], _ body: (UnsafePointer<CChar>) throws(SystemError) -> R) throws(SystemError) -> R {
    if name.contains(0) { throw SystemError(call, name: name, errno: .invalidArgument) }
    var terminated = name
    terminated.append(0)
    let result: Result<R, SystemError> = terminated.withUnsafeBufferPointer { buffer in
        buffer.withMemoryRebound(to: CChar.self) { chars in
            do throws(SystemError) { return .success(try body(chars.baseAddress!)) } catch { return .failure(error) }
        }
    }
    return try result.get()
}
