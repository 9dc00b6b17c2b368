/// SetOptions (op 19; formats.md §6.7, guix-daemon.md §7.5).
///
/// Nix (and Guix for clients < 0x61): twelve ints -- keepFailed, keepGoing, tryFallback,
/// verbosity, maxBuildJobs, maxSilentTime, useBuildHook, verboseBuild, logType,
/// printBuildTrace, buildCores, useSubstitutes. Guix (>= 0x61): nine -- keepFailed, keepGoing,
/// fallback, verbosity, useBuildHook, buildVerbosity, logType, printBuildTrace, useSubstitutes.
/// Then (minor >= 12) u64 n and n (name, value) string pairs.
public struct ClientOptions: Hashable, Sendable {
    /// The integer fields in wire order (9 or 12 of them).
    public var integers: [UInt64]
    public var overrides: [Setting]

    public struct Setting: Hashable, Sendable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) { self.name = name; self.value = value }
    }

    public init(integers: [UInt64], overrides: [Setting] = []) {
        self.integers = integers
        self.overrides = overrides
    }

    /// What a Nix 2.8 client sends by default (observed, §6.7).
    public static func nixDefault(buildCores: UInt64 = 1) -> ClientOptions {
        ClientOptions(integers: [0, 0, 0, 3, 1, 0, 1, 0, 0, 0, buildCores, 1])
    }

    /// What `guix/store.scm` `set-build-options` sends by default.
    public static let guixDefault = ClientOptions(integers: [0, 0, 0, 0, 0, 0, 0, 1, 1],
                                                  overrides: [Setting("build-cores", "0")])

    private func at(_ i: Int) -> UInt64 { i < integers.count ? integers[i] : 0 }
    private var isGuixShape: Bool { integers.count == 9 }

    public var keepFailed: Bool { at(0) != 0 }
    public var keepGoing: Bool { at(1) != 0 }
    public var tryFallback: Bool { at(2) != 0 }
    public var verbosity: UInt64 { at(3) }
    public var maxBuildJobs: UInt64? { isGuixShape ? nil : at(4) }
    public var maxSilentTime: UInt64? { isGuixShape ? nil : at(5) }
    public var buildCores: UInt64? { isGuixShape ? nil : at(10) }
    /// Guix's buildVerbosity (Nix 2.8 reads this word as verboseBuild: lvlError means yes).
    public var buildVerbosity: UInt64 { at(isGuixShape ? 5 : 7) }
    public var printBuildTrace: Bool { at(isGuixShape ? 7 : 9) != 0 }
    public var useSubstitutes: Bool { at(isGuixShape ? 8 : 11) != 0 }

    public static func decode(from r: WireReader, _ v: Negotiated) throws(WorkerProtocolError) -> ClientOptions {
        let count = v.setOptionsIsGuixShape ? 9 : 12
        var ints: [UInt64] = []
        for i in 0..<count { ints.append(try r.readInt("SetOptions field \(i)")) }
        var overrides: [Setting] = []
        if v.setOptionsHasOverrides {
            for (k, value) in try r.readStringPairs("SetOptions overrides") { overrides.append(Setting(k, value)) }
        }
        return ClientOptions(integers: ints, overrides: overrides)
    }

    public func encode(to w: WireWriter, _ v: Negotiated) throws(WorkerProtocolError) {
        let count = v.setOptionsIsGuixShape ? 9 : 12
        for i in 0..<count { try w.writeU64(at(i)) }
        if v.setOptionsHasOverrides { try w.writeStringPairs(overrides.map { ($0.name, $0.value) }) }
    }
}
