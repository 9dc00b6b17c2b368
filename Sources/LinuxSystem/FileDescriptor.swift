import Glibc

/// An owned file descriptor: closed exactly once, by `close()` or when the last reference goes.
/// Every fd is opened close-on-exec. Not meant to be closed from two threads at once; reads and
/// writes from several threads are as safe as the kernel makes them.
public final class FileDescriptor: @unchecked Sendable {
    /// The kernel's number; valid until `close()`.
    public let rawValue: Int32
    private var isOpen = true

    /// Takes ownership of `rawValue`.
    public init(owning rawValue: Int32) { self.rawValue = rawValue }

    deinit { if isOpen { Glibc.close(rawValue) } }

    /// Closes now. EINTR is not retried: on Linux the fd is released even then.
    public func close() throws(SystemError) {
        guard isOpen else { return }
        isOpen = false
        if Glibc.close(rawValue) < 0, Errno.current != .interrupted {
            throw SystemError("close", errno: .current)
        }
    }

    /// Gives up ownership without closing (the fd now belongs to something else, e.g. a DIR*).
    func relinquish() { isOpen = false }

    /// A second descriptor for the same open file (close-on-exec).
    public func duplicate() throws(SystemError) -> FileDescriptor {
        let fd = try retrying("fcntl(F_DUPFD_CLOEXEC)") { fcntl(rawValue, F_DUPFD_CLOEXEC, 0) }
        return FileDescriptor(owning: fd)
    }

    // MARK: Opening

    /// The current working directory as a base for the `…(at:)` calls.
    public static let currentDirectory = FileDescriptor(unowned: AT_FDCWD)
    /// fd 2, never closed by this object (diagnostics such as the daemon's phase timings).
    public static let standardError = FileDescriptor(unowned: 2)
    private init(unowned value: Int32) {
        rawValue = value
        isOpen = false
    }

    /// `open(2)` relative to the current directory; O_CLOEXEC is always added.
    public static func open(_ path: String, _ flags: OpenFlags, mode: mode_t = 0o644) throws(SystemError) -> FileDescriptor {
        try currentDirectory.open(at: Array(path.utf8), flags, mode: mode)
    }

    /// `openat(2)` relative to this directory; O_CLOEXEC is always added.
    public func open(at name: [UInt8], _ flags: OpenFlags, mode: mode_t = 0o644) throws(SystemError) -> FileDescriptor {
        let fd = try withCName("openat", name) { (cName) throws(SystemError) in
            try retrying("openat", path: String(decoding: name, as: UTF8.self)) {
                openat(rawValue, cName, flags.rawValue | O_CLOEXEC, mode)
            }
        }
        return FileDescriptor(owning: fd)
    }

    public func open(at name: String, _ flags: OpenFlags, mode: mode_t = 0o644) throws(SystemError) -> FileDescriptor {
        try open(at: Array(name.utf8), flags, mode: mode)
    }

    /// Opens the directory `name` under this one without following a symlink at `name`.
    public func openDirectory(at name: [UInt8]) throws(SystemError) -> FileDescriptor {
        try open(at: name, [.readOnly, .directory, .noFollow])
    }

    public func openDirectory(at name: String) throws(SystemError) -> FileDescriptor {
        try openDirectory(at: Array(name.utf8))
    }

    // MARK: Reading and writing

    /// One `read(2)`; 0 means end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        return try retryingSize("read") { Glibc.read(rawValue, base, buffer.count) }
    }

    /// Reads until `buffer` is full or end of file; returns the bytes read.
    public func readFully(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
        var done = 0
        while done < buffer.count {
            let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]))
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// The rest of the file; for small files only (callers stream big ones).
    public func readAll() throws(SystemError) -> [UInt8] {
        var result: [UInt8] = []
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 8)
        defer { chunk.deallocate() }
        while true {
            let n = try read(into: chunk)
            if n == 0 { return result }
            result += UnsafeRawBufferPointer(rebasing: chunk[0..<n])
        }
    }

    /// Reads up to end of file but at most `limit` bytes (so a caller asking for one byte more
    /// than it accepts can tell "too large" without reading the rest).
    public func readAll(upTo limit: Int) throws(SystemError) -> [UInt8] {
        var result: [UInt8] = []
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 8)
        defer { chunk.deallocate() }
        while result.count < limit {
            let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: chunk[0..<min(chunk.count, limit - result.count)]))
            if n == 0 { break }
            result += UnsafeRawBufferPointer(rebasing: chunk[0..<n])
        }
        return result
    }

    /// Writes every byte, looping over short writes.
    public func writeAll(_ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        guard let base = bytes.baseAddress else { return }
        var done = 0
        while done < bytes.count {
            done += try retryingSize("write") { Glibc.write(rawValue, base + done, bytes.count - done) }
        }
    }

    public func writeAll(_ bytes: [UInt8]) throws(SystemError) {
        let result: Result<Void, SystemError> = bytes.withUnsafeBytes { buffer in
            do throws(SystemError) { try writeAll(buffer); return .success(()) } catch { return .failure(error) }
        }
        try result.get()
    }

    public func synchronize() throws(SystemError) {
        _ = try retrying("fsync") { fsync(rawValue) }
    }

    public func truncate(to size: Int64) throws(SystemError) {
        _ = try retrying("ftruncate") { ftruncate(rawValue, off_t(size)) }
    }

    /// `lseek(2)`; returns the new offset.
    @discardableResult
    public func seek(to offset: Int64, whence: Int32 = SEEK_SET) throws(SystemError) -> Int64 {
        let result = lseek(rawValue, off_t(offset), whence)
        if result < 0 { throw SystemError("lseek", errno: .current) }
        return Int64(result)
    }
}

/// Flags for `open(at:)`. O_CLOEXEC is implied and not listed.
public struct OpenFlags: OptionSet, Sendable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// O_RDONLY is zero; listed for readability.
    public static let readOnly = OpenFlags([])
    public static let writeOnly = OpenFlags(rawValue: O_WRONLY)
    public static let readWrite = OpenFlags(rawValue: O_RDWR)
    public static let create = OpenFlags(rawValue: O_CREAT)
    public static let exclusive = OpenFlags(rawValue: O_EXCL)
    public static let truncate = OpenFlags(rawValue: O_TRUNC)
    public static let append = OpenFlags(rawValue: O_APPEND)
    public static let noFollow = OpenFlags(rawValue: O_NOFOLLOW)
    public static let directory = OpenFlags(rawValue: O_DIRECTORY)
    public static let nonBlocking = OpenFlags(rawValue: O_NONBLOCK)
    public static let noControllingTerminal = OpenFlags(rawValue: O_NOCTTY)
}
