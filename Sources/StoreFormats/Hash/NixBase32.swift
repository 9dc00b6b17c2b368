/// Nix's base-32 ("nix32"), formats.md §1.1.
///
/// Alphabet `0123456789abcdfghijklmnpqrsvwxyz` (no e, o, u, t). The bytes are read as one
/// little-endian number and printed most significant digit first; `n` bytes take
/// `ceil(8n/5)` characters. Not RFC 4648. Decoding rejects foreign characters, wrong lengths
/// and bits set beyond the last byte.
public enum NixBase32 {
    public static let alphabet: [UInt8] = Array("0123456789abcdfghijklmnpqrsvwxyz".utf8)

    /// Character → digit value, 0xFF where the character is not in the alphabet.
    static let digitValue: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, char) in alphabet.enumerated() { table[Int(char)] = UInt8(index) }
        return table
    }()

    /// The number of characters that encode `byteCount` bytes.
    public static func encodedLength(_ byteCount: Int) -> Int {
        byteCount == 0 ? 0 : (byteCount * 8 - 1) / 5 + 1
    }

    public static func encode<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        if let encoded = bytes.withContiguousStorageIfAvailable({ encode($0) }) { return encoded }
        return Array(bytes).withUnsafeBufferPointer { encode($0) }
    }

    static func encode(_ input: UnsafeBufferPointer<UInt8>) -> String {
        let length = encodedLength(input.count)
        return String(unsafeUninitializedCapacity: length) { out in
            write(input, to: out.baseAddress!)
            return length
        }
    }

    /// Whether `text` is the encoding of `bytes` (no string is built: store-path checks
    /// compare a computed digest with a path's hash part).
    static func encodes(_ bytes: [UInt8], as text: String) -> Bool {
        bytes.withUnsafeBufferPointer { encodes($0, as: text) }
    }

    static func encodes(_ input: UnsafeBufferPointer<UInt8>, as text: String) -> Bool {
        let length = encodedLength(input.count)
        var text = text
        return text.withUTF8 { chars in
            guard chars.count == length else { return false }
            return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: length) { scratch in
                write(input, to: scratch.baseAddress!)
                for i in 0..<length where scratch[i] != chars[i] { return false }
                return true
            }
        }
    }

    /// Writes the `encodedLength(input.count)` characters encoding `input` at `out`. Five input
    /// bytes (40 bits, zeros past the end) give eight digits: one shift per digit instead of
    /// two bytes read and combined.
    static func write(_ input: UnsafeBufferPointer<UInt8>, to out: UnsafeMutablePointer<UInt8>) {
        let count = input.count
        var left = encodedLength(count)
        guard left > 0, let bytes = input.baseAddress else { return }
        alphabet.withUnsafeBufferPointer { alphabet in
            // Digits go right to left; wrapping arithmetic: every index is in range by construction.
            var at = out + left
            var i = 0
            while left > 0 {
                var chunk: UInt64 = 0
                if i &+ 5 <= count {
                    chunk = UInt64(bytes[i]) | UInt64(bytes[i &+ 1]) &<< 8 | UInt64(bytes[i &+ 2]) &<< 16
                        | UInt64(bytes[i &+ 3]) &<< 24 | UInt64(bytes[i &+ 4]) &<< 32
                } else {
                    var j = 0
                    while i &+ j < count {
                        chunk |= UInt64(bytes[i &+ j]) &<< UInt64(truncatingIfNeeded: 8 &* j)
                        j &+= 1
                    }
                }
                var digits = left < 8 ? left : 8
                left &-= digits
                while digits > 0 {
                    at -= 1
                    at.initialize(to: alphabet[Int(truncatingIfNeeded: chunk & 0x1F)])
                    chunk &>>= 5
                    digits &-= 1
                }
                i &+= 5
            }
        }
    }

    /// Decodes `text` into exactly `byteCount` bytes.
    public static func decode<Text: StringProtocol>(_ text: Text, byteCount: Int) throws(FormatError) -> [UInt8] {
        let chars = Array(text.utf8)
        guard chars.count == encodedLength(byteCount) else {
            throw .invalidBase32(String(text), reason: "length \(chars.count), expected \(encodedLength(byteCount))")
        }
        return try decodeChars(chars, byteCount: byteCount, original: String(text))
    }

    /// Decodes a string whose length determines the byte count (inverse of `encodedLength`).
    public static func decode<Text: StringProtocol>(_ text: Text) throws(FormatError) -> [UInt8] {
        let chars = Array(text.utf8)
        let byteCount = chars.count * 5 / 8
        guard encodedLength(byteCount) == chars.count else {
            throw .invalidBase32(String(text), reason: "length \(chars.count) encodes no whole number of bytes")
        }
        return try decodeChars(chars, byteCount: byteCount, original: String(text))
    }

    private static func decodeChars(_ chars: [UInt8], byteCount: Int, original: String) throws(FormatError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: byteCount)
        let length = chars.count
        for k in 0..<length {
            let value = digitValue[Int(chars[length - 1 - k])]
            guard value != 0xFF else {
                throw .invalidBase32(original, reason: "character '\(Character(Unicode.Scalar(chars[length - 1 - k])))' is not in the nix32 alphabet")
            }
            let bit = k * 5
            let i = bit / 8
            let j = bit % 8
            out[i] |= UInt8(truncatingIfNeeded: Int(value) << j)
            let carry = Int(value) >> (8 - j)
            if i + 1 < byteCount {
                out[i + 1] |= UInt8(truncatingIfNeeded: carry)
            } else if carry != 0 {
                throw .invalidBase32(original, reason: "bits set beyond the last byte")
            }
        }
        return out
    }
}
