#!/usr/bin/env python3
"""Seeds for the `wire` fuzz target: what each Nix 2.8 client sent after the handshake in
vectors/worker-protocol/nix-2.8-transcripts, prefixed by the selector byte of its version
(0 = 1.34, 1 = 1.24, 2 = 1.16; see Fuzz/WireTarget.swift).
Usage: wire-seeds.py VECTORS_DIR OUT_DIR"""
import json, os, struct, sys

vectors, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
folder = os.path.join(vectors, "worker-protocol", "nix-2.8-transcripts")
for name in sorted(os.listdir(folder)):
    if not name.endswith(".json") or name == "INDEX.json":
        continue
    chunks = json.load(open(os.path.join(folder, name)))["chunks"]
    client = b"".join(bytes.fromhex(c[1]) for c in chunks if c[0] == "C")
    version = struct.unpack_from("<Q", client, 8)[0]
    selector = {0x122: 0, 0x118: 1, 0x110: 2}.get(version, 0)
    # magic, version, affinity, reserveSpace = 32 bytes of handshake
    open(os.path.join(out, name[:-5]), "wb").write(bytes([selector]) + client[32:])
