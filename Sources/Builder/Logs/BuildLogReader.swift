/// Reading a build log back (`cloister log`, the daemon's log lookup): plain, gzip (`.gz`) or
/// bzip2 (`.bz2`) by suffix, decompressed in 64 KiB chunks handed to the caller.
import CZlib
import LinuxSystem

public enum BuildLogReader {
    /// Streams the decompressed bytes of the log at `path` to `body`.
    public static func read(_ path: String, into body: ([UInt8]) -> Void) throws(BuildError) {
        let bytes: [UInt8]
        do { bytes = try FileDescriptor.open(path, [.readOnly, .noFollow]).readAll() } catch { throw .system(error) }
        if path.hasSuffix(".gz") { try gunzip(bytes, into: body) }
        else if path.hasSuffix(".bz2") { try bunzip2(bytes, into: body) }
        else { body(bytes) }
    }

    static func gunzip(_ input: [UInt8], into body: ([UInt8]) -> Void) throws(BuildError) {
        var stream = z_stream()
        // 15 + 32: zlib or gzip header, detected.
        guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .misc("cannot initialise zlib")
        }
        defer { inflateEnd(&stream) }
        var source = input
        var output = [UInt8](repeating: 0, count: 1 << 16)
        var failure: Int32 = Z_OK
        source.withUnsafeMutableBufferPointer { inBuffer in
            stream.next_in = inBuffer.baseAddress
            stream.avail_in = UInt32(inBuffer.count)
            while true {
                var rc: Int32 = Z_OK
                let produced: Int = output.withUnsafeMutableBufferPointer { outBuffer in
                    stream.next_out = outBuffer.baseAddress
                    stream.avail_out = UInt32(outBuffer.count)
                    rc = inflate(&stream, Z_NO_FLUSH)
                    return outBuffer.count - Int(stream.avail_out)
                }
                if produced > 0 { body(Array(output[0..<produced])) }
                if rc == Z_STREAM_END {
                    // Concatenated gzip members: go on with the next one.
                    if stream.avail_in > 0 { inflateReset(&stream); continue }
                    break
                }
                if rc != Z_OK { failure = rc; break }
                if stream.avail_in == 0 && produced == 0 { break }
            }
        }
        if failure != Z_OK && failure != Z_BUF_ERROR { throw .misc("corrupt gzip log (zlib error \(failure))") }
    }

    static func bunzip2(_ input: [UInt8], into body: ([UInt8]) -> Void) throws(BuildError) {
        var stream = bz_stream()
        guard BZ2_bzDecompressInit(&stream, 0, 0) == BZ_OK else { throw .misc("cannot initialise libbz2") }
        defer { BZ2_bzDecompressEnd(&stream) }
        var source = input
        var output = [UInt8](repeating: 0, count: 1 << 16)
        var failure: Int32 = BZ_OK
        source.withUnsafeMutableBufferPointer { inBuffer in
            stream.next_in = UnsafeMutableRawPointer(inBuffer.baseAddress)?.assumingMemoryBound(to: CChar.self)
            stream.avail_in = UInt32(inBuffer.count)
            while true {
                var rc: Int32 = BZ_OK
                let produced: Int = output.withUnsafeMutableBufferPointer { outBuffer in
                    stream.next_out = UnsafeMutableRawPointer(outBuffer.baseAddress)?.assumingMemoryBound(to: CChar.self)
                    stream.avail_out = UInt32(outBuffer.count)
                    rc = BZ2_bzDecompress(&stream)
                    return outBuffer.count - Int(stream.avail_out)
                }
                if produced > 0 { body(Array(output[0..<produced])) }
                if rc == BZ_STREAM_END { break }
                if rc != BZ_OK { failure = rc; break }
                if stream.avail_in == 0 && produced == 0 { break }
            }
        }
        if failure != BZ_OK { throw .misc("corrupt bzip2 log (libbz2 error \(failure))") }
    }
}
