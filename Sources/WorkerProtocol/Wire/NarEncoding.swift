/// Writing the NAR of a single regular file (formats.md §3.1), for flat objects that arrive
/// as plain bytes but are stored from a NAR.
public enum NarEncoding {
    public static func regularFile(_ contents: [UInt8], executable: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(contents.count + 160)
        func token<C: Collection>(_ bytes: C) where C.Element == UInt8 {
            withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { out.append(contentsOf: $0) }
            out.append(contentsOf: bytes)
            out.append(contentsOf: repeatElement(0, count: (8 - bytes.count % 8) % 8))
        }
        for word in ["nix-archive-1", "(", "type", "regular"] { token(word.utf8) }
        if executable { token("executable".utf8); token([UInt8]()) }
        token("contents".utf8)
        token(contents)
        token(")".utf8)
        return out
    }
}
