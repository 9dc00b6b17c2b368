/// How guix-daemon reads option values, reproduced so the same words are accepted and rejected:
///
/// - Booleans (`--discover`, `--gc-keep-*`): `string_to_bool` — absent → true, `yes`/`no` in any
///   case, otherwise ``'X': invalid Boolean value``.
/// - Integer settings (`--cores`, `--max-jobs`, `--timeout`, `--max-silent-time`): stored as text
///   and converted later by `Settings::update` with nix's `string2Int` (a C++ `istream >> n` that
///   must consume everything): leading blanks and a sign are allowed, nothing may trail, the
///   value must fit the setting's type. Failure: ``configuration setting `NAME' should have an
///   integer value``.
/// - `--rounds=N`: `strtoul` base 10 that must consume everything.
enum SettingValues {
    /// string_to_bool (guix-daemon.cc).
    static func boolean(_ text: String?) -> Bool? {
        guard let text else { return true }
        switch text.lowercased() {
        case "yes": return true
        case "no": return false
        default: return nil
        }
    }

    /// The C++ types behind the integer settings: `unsigned int` for cores and jobs (a negative
    /// value wraps, as libstdc++ does for unsigned extraction), `time_t` for the timeouts.
    enum IntegerType {
        case unsigned32, signed64
    }

    /// nix's string2Int for the given type.
    static func integer(_ text: String, as type: IntegerType) -> Int? {
        var rest = Substring(text).drop(while: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\u{0B}" || $0 == "\u{0C}" })
        var negative = false
        if let sign = rest.first, sign == "+" || sign == "-" {
            negative = sign == "-"
            rest = rest.dropFirst()
        }
        guard !rest.isEmpty, rest.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        var magnitude: UInt64 = 0
        for digit in rest.utf8 {
            let (times, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
            let (plus, overflow2) = times.addingReportingOverflow(UInt64(digit - 48))
            if overflow1 || overflow2 { return nil }
            magnitude = plus
        }
        switch type {
        case .unsigned32:
            guard magnitude <= UInt64(UInt32.max) else { return nil }
            let value = UInt32(magnitude)
            return Int(negative ? 0 &- value : value)
        case .signed64:
            if negative {
                guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
                return magnitude == UInt64(Int64.max) + 1 ? Int(Int64.min) : -Int(magnitude)
            }
            guard magnitude <= UInt64(Int64.max) else { return nil }
            return Int(magnitude)
        }
    }

    /// `--rounds=N`: a positive decimal count. guix-daemon's strtoul also lets `0`, an empty
    /// word or a negative number through and then stores a wrapped `build-repeat` that makes
    /// every later build fail; Cloister rejects them here with the same message instead.
    static func rounds(_ text: String) -> Int? {
        let rest = Substring(text).drop(while: { $0 == " " || $0 == "\t" || $0 == "\n" })
        let digits = rest.first == "+" ? rest.dropFirst() : rest
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
              let n = Int(digits), n >= 1 else { return nil }
        return n
    }

    /// `tokenizeString` with nix's default separators: how space-separated settings
    /// (`build-extra-chroot-dirs`, `substitute-urls`) are split.
    static func tokens(_ text: String) -> [String] {
        text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }).map(String.init)
    }
}
