/// The worker protocol spoken over the daemon socket (formats.md §6), in Guix's dialect
/// (0x163/0x164) and Nix 2.8's (1.34 and the older minors it negotiates down to).
///
/// Layers, bottom up:
/// - `Wire/`: u64 and padded-string primitives (§1.2) over an abstract `ByteStream`, framed
///   streams (§6.4), and a NAR delimiter that finds where an inline NAR ends.
/// - `Session/`: version negotiation and dialect (§6.2), the stderr channel (§6.3).
/// - `Records/`: ValidPathInfo, BuildResult, DerivedPath, BasicDerivation, SetOptions (§6.5, §6.7).
/// - `Operations/`: the op-code table and typed requests and replies (§6.6).
/// - `Server/`: the `StoreService` the daemon implements and `ServerSession`, which runs one
///   connection; `Client/`: `WorkerClient`.
///
/// The module makes no system calls: sockets are supplied by the caller as `ByteStream`s.
