/// A build log on disk (guix-daemon.md §4.5): `<logDir>/drvs/<first 2 chars of the drv's base
/// name>/<rest>` plus `.gz` (gzip, level 9), `.bz2` (block size 9) or nothing. Created
/// O_CREAT|O_TRUNC 0644; directories made as needed. Clients look for `.gz`, `.bz2`, plain.
import CZlib
import LinuxSystem
import LocalStore
import StoreFormats

public final class BuildLogFile {
    private let fd: FileDescriptor
    private let compressor: Compressor
    public let path: String

    /// Where the log of `drvPath` lives, without the compression suffix.
    public static func basePath(logDirectory: String, drvPath: StorePath) -> String {
        let base = drvPath.baseName
        return logDirectory + "/drvs/" + String(base.prefix(2)) + "/" + String(base.dropFirst(2))
    }

    /// The existing log of `drvPath`, trying `.gz`, `.bz2`, then plain (as Guix's client does).
    public static func find(logDirectory: String, drvPath: StorePath) -> String? {
        let base = basePath(logDirectory: logDirectory, drvPath: drvPath)
        for suffix in [".gz", ".bz2", ""] where HostPath.exists(base + suffix) { return base + suffix }
        return nil
    }

    public init(logDirectory: String, drvPath: StorePath, compression: LogCompression) throws(BuildError) {
        let base = Self.basePath(logDirectory: logDirectory, drvPath: drvPath)
        path = base + compression.suffix
        do {
            if let spare = Self.spareFile(logDirectory: logDirectory, path: path) {
                fd = spare
            } else {
                do {
                    fd = try FileDescriptor.open(path, [.writeOnly, .create, .truncate, .noFollow], mode: 0o644)
                } catch where error.errno == .noSuchFile {
                    try HostPath.makeDirectories(String(base[..<(base.lastIndex(of: "/") ?? base.endIndex)]))
                    fd = try FileDescriptor.open(path, [.writeOnly, .create, .truncate, .noFollow], mode: 0o644)
                }
            }
        } catch { throw .system(error) }
        switch compression {
        case .none: compressor = PlainWriter()
        case .gzip: compressor = try GzipWriter()
        case .bzip2: compressor = try Bzip2Writer()
        }
    }


    /// A new log file (and `drvs/XX`) from the spares a worker made ahead (SpareInodes), if
    /// there are some and the file does not exist yet.
    static func spareFile(logDirectory: String, path: String) -> FileDescriptor? {
        let drvs = logDirectory + "/drvs"
        let spares = SpareInodes(directory: drvs)
        let parts = path.dropFirst(drvs.count + 1).split(separator: "/").map { Array($0.utf8) }
        guard parts.count == 2, let drvsFD = try? FileDescriptor.open(drvs, [.readOnly, .directory]) else { return nil }
        var directory = try? drvsFD.openDirectory(at: parts[0])
        if directory == nil, spares.take(.directory, as: parts[0], in: drvsFD, mode: 0o755).taken {
            directory = try? drvsFD.openDirectory(at: parts[0])
        }
        guard let directory else { return nil }
        return spares.take(.file, as: parts[1], in: directory, mode: 0o644, flags: [.writeOnly]).file
    }

    public func write(_ bytes: ArraySlice<UInt8>) throws(BuildError) {
        do { try compressor.write(bytes, to: fd) } catch { throw .system(error) }
    }

    /// Flushes the compressor's trailer and closes the file.
    public func close() throws(BuildError) {
        do {
            try compressor.finish(to: fd)
            try fd.close()
        } catch { throw .system(error) }
    }
}

protocol Compressor: AnyObject {
    func write(_ bytes: ArraySlice<UInt8>, to fd: FileDescriptor) throws(SystemError)
    func finish(to fd: FileDescriptor) throws(SystemError)
}

final class PlainWriter: Compressor {
    func write(_ bytes: ArraySlice<UInt8>, to fd: FileDescriptor) throws(SystemError) {
        try fd.writeAll(Array(bytes))
    }
    func finish(to fd: FileDescriptor) throws(SystemError) {}
}

/// zlib deflate with a gzip wrapper, level 9 (Z_BEST_COMPRESSION), 32 KiB output buffer.
final class GzipWriter: Compressor {
    private var stream = z_stream()
    private var output = [UInt8](repeating: 0, count: 32 * 1024)
    private var finished = false

    init() throws(BuildError) {
        guard czlib_deflate_init_gzip(&stream, 9) == Z_OK else { throw .misc("cannot initialise zlib") }
    }

    deinit { deflateEnd(&stream) }

    func write(_ bytes: ArraySlice<UInt8>, to fd: FileDescriptor) throws(SystemError) {
        var input = Array(bytes)
        try run(&input, flush: Z_NO_FLUSH, to: fd)
    }

    func finish(to fd: FileDescriptor) throws(SystemError) {
        guard !finished else { return }
        finished = true
        var none: [UInt8] = []
        try run(&none, flush: Z_FINISH, to: fd)
    }

    private func run(_ input: inout [UInt8], flush: Int32, to fd: FileDescriptor) throws(SystemError) {
        let count = input.count
        try input.withUnsafeMutableBufferPointer { (inBuffer) throws(SystemError) in
            stream.next_in = inBuffer.baseAddress
            stream.avail_in = UInt32(count)
            while true {
                let produced: Int = output.withUnsafeMutableBufferPointer { outBuffer in
                    stream.next_out = outBuffer.baseAddress
                    stream.avail_out = UInt32(outBuffer.count)
                    _ = deflate(&stream, flush)
                    return outBuffer.count - Int(stream.avail_out)
                }
                if produced > 0 { try fd.writeAll(Array(output[0..<produced])) }
                if flush == Z_FINISH {
                    if produced == 0 || stream.avail_out != 0 { break }
                } else if stream.avail_in == 0 && stream.avail_out != 0 {
                    break
                }
            }
            stream.next_in = nil
        }
    }
}

/// libbzip2, block size 9.
final class Bzip2Writer: Compressor {
    private var stream = bz_stream()
    private var output = [UInt8](repeating: 0, count: 32 * 1024)
    private var finished = false

    init() throws(BuildError) {
        guard BZ2_bzCompressInit(&stream, 9, 0, 0) == BZ_OK else { throw .misc("cannot initialise libbz2") }
    }

    deinit { BZ2_bzCompressEnd(&stream) }

    func write(_ bytes: ArraySlice<UInt8>, to fd: FileDescriptor) throws(SystemError) {
        var input = Array(bytes)
        try run(&input, action: BZ_RUN, to: fd)
    }

    func finish(to fd: FileDescriptor) throws(SystemError) {
        guard !finished else { return }
        finished = true
        var none: [UInt8] = []
        try run(&none, action: BZ_FINISH, to: fd)
    }

    private func run(_ input: inout [UInt8], action: Int32, to fd: FileDescriptor) throws(SystemError) {
        let count = input.count
        try input.withUnsafeMutableBufferPointer { (inBuffer) throws(SystemError) in
            stream.next_in = UnsafeMutableRawPointer(inBuffer.baseAddress)?.assumingMemoryBound(to: CChar.self)
            stream.avail_in = UInt32(count)
            while true {
                var rc: Int32 = 0
                let produced: Int = output.withUnsafeMutableBytes { outBuffer in
                    stream.next_out = outBuffer.baseAddress?.assumingMemoryBound(to: CChar.self)
                    stream.avail_out = UInt32(outBuffer.count)
                    rc = BZ2_bzCompress(&stream, action)
                    return outBuffer.count - Int(stream.avail_out)
                }
                if produced > 0 { try fd.writeAll(Array(output[0..<produced])) }
                if action == BZ_FINISH {
                    if rc == BZ_STREAM_END || rc < 0 { break }
                } else if stream.avail_in == 0 {
                    break
                }
            }
            stream.next_in = nil
        }
    }
}
