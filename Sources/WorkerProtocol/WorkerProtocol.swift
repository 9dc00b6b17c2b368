/// The worker protocol spoken over the daemon socket (formats.md §6), in Guix's dialect
/// (0x163/0x164) and Nix 2.8's (1.34 and the older minors it negotiates down to).
