#!/usr/bin/env python3
"""Writes the seed inputs of every fuzz target into seeds/<target>/.

Run from fuzz/: `python3 seeds/generate.py`. Reads the server-auth
known-answer vectors (../crates/server-auth/tests/vectors/wallets.json) for
login bodies, signatures and header sets. Seeds only need to be plausible
starting points: every target accepts any bytes.
"""

import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.environ.get("VECTORS") or os.path.join(
    HERE, "..", "..", "crates", "server-auth", "tests", "vectors", "wallets.json")

NOW_SECS = 1_721_300_010
NODE = "AKnL4NNf3DGWZJS6cPknBuEGnVsV4A4m5tgebLHaRSZ9"
CONTEXT = "9YxHobM9hKQFzHHjg3FDtXmCreJWS7Epe1gG1t4jodi"
ZERO_ID = "1" * 32
CLIENT_03 = "4XTTMH7K9Ye2Tp5YbJqdbkhzvHsdWs9VTBDaBZdPRC5ehLMNg"


def j(value):
    return json.dumps(value, separators=(",", ":")).encode()


def context_row():
    """A context record's binary row (format 1, node-store's `context_row.rs`):
    two members, a join time, two heads, a remote member and sharing."""
    u32 = lambda n: struct.pack(">I", n)
    u64 = lambda n: struct.pack(">Q", n)
    text = lambda t: u32(len(t)) + t
    a, b = bytes([3] * 32), bytes([4] * 32)
    return (b"\x01" + bytes([1] * 32) + bytes([2] * 32) + bytes(32) + bytes([9] * 32)
            + u64(8) + u64(9) + u64(7) + u64(10)
            + u32(2) + a + b
            + u32(1) + b + u64(8)
            + u32(2) + a + u64(12) + b + u64(1)
            + u32(1) + b
            + b"\x01" + text(b"genesis") + u32(1) + text(b"invitation")
            + u32(1) + text(b"/ip4/127.0.0.1/tcp/1"))


def write(target, seeds):
    folder = os.path.join(HERE, target)
    os.makedirs(folder, exist_ok=True)
    for i, seed in enumerate(seeds):
        with open(os.path.join(folder, f"seed-{i:02}"), "wb") as f:
            f.write(seed)


def main():
    with open(VECTORS) as f:
        vectors = json.load(f)
    logins = vectors["near"] + vectors["eth"]

    write("ids", [
        ZERO_ID.encode(),
        CONTEXT.encode(),
        NODE.encode(),
        j(CONTEXT),
        b"0OIl",
        b"",
        b"z" * 45,
        "11\u00e91".encode(),
    ])

    call = {"contextId": CONTEXT, "method": "get", "argsJson": {"key": "a", "n": 1.5, "list": [1, -2, 3e20]}}
    write("jsonrpc_request", [
        j({"jsonrpc": "2.0", "id": 1, "method": "query", "params": call}),
        j({"jsonrpc": "2.0", "id": "x", "method": "mutate", "params": dict(call, argsJson=None)}),
        j({"jsonrpc": "2.0", "method": "execute", "params": dict(call, executorPublicKey=NODE, substitute=["a"])}),
        j({"jsonrpc": "2.0", "id": None, "method": "execute", "params": {"contextId": CONTEXT, "method": "m"}}),
        j([{"jsonrpc": "2.0", "id": 1}]),
        b'{"jsonrpc":"2.0","id":1,"method":"query","params":{"contextId":"x","method":"m"}}',
    ])

    write("ws_request", [
        j({"id": 1, "method": "subscribe", "params": {"contextIds": [CONTEXT]}}),
        j({"id": 2, "method": "subscribe", "params": {"contextIds": [CONTEXT], "since": {CONTEXT: 7}}}),
        j({"id": None, "method": "unsubscribe", "params": {"contextIds": [CONTEXT, ZERO_ID]}}),
        b"current",
        b"seed",
        b"all",
    ])

    admin = [
        (0, {"url": "https://example.invalid/app.wasm", "hash": ZERO_ID, "metadata": [1, 2, 3]}),
        (1, {"path": "/tmp/app.wasm", "metadata": []}),
        (2, {"applicationId": ZERO_ID, "initializationParams": list(b'{"a":1}')}),
        (3, {"contextId": CONTEXT}),
        (3, {}),
        (5, {"contextId": CONTEXT, "executorPublicKey": NODE}),
        (6, {"refreshToken": "a.b.c"}),
        (7, {"type": "NEAR", "networkId": "testnet"}),
        (7, {"type": "ETH", "chainId": 1}),
        (8, {"node": NODE, "method": "POST", "path": "/jsonrpc", "timestamp": NOW_SECS, "nonce": "00ff"}),
        (9, {"nodeSignature": "c2ln", "publicKey": CLIENT_03}),
        (10, {"context_id": CONTEXT, "executor_public_key": NODE, "exp": NOW_SECS + 60,
              "token_type": "access", "iat": NOW_SECS, "jti": "j", "sub": CLIENT_03, "reg": "r"}),
        (11, {"nonce": "EBAQ", "contextId": None, "timestamp": NOW_SECS, "nodeSignature": "c2ln"}),
    ] + [(4, case["body"]) for case in logins]
    write("admin_bodies", [bytes([which]) + j(body) for which, body in admin])

    header_sets = []
    for case in vectors["headers"]:
        lines = [f"{name}:{value}" for name, value in case["headers"].items()]
        header_sets.append("\n".join(lines).encode())
    hyphenated = [s.replace(b"_", b"-").upper().replace(b"-TYPE", b"-type") for s in header_sets]
    write("auth_headers", header_sets + hyphenated + [b"content-type:application/json", b"signing_key:4XTTM"])

    stamp = j({"node": NODE, "method": "POST", "path": "/jsonrpc", "timestamp": NOW_SECS, "nonce": "n1"})
    write("authenticate", [
        b"\x00\x00" + header_sets[0],
        b"\x00\x00" + header_sets[1],
        b"\x01\x00\x00\x00" + stamp,
        b"\x01\x00\x01\x01" + stamp,
        # mode 2: key 0x03, no context header, our node, same path, no case
        # change, offset 0, 16-byte nonce; then the bound key with its context.
        bytes([2, 0, 0, 0, 1, 1, 0, 0, 0, 16]),
        bytes([2, 1, 1, 1, 1, 1, 0xff, 0x10, 0xff, 8]),
        bytes([2, 2, 1, 2, 1, 1, 0, 0, 0, 16]),
        b"\x03\x00\x08Bearer x" + b"signing_key:" + CLIENT_03.encode(),
    ])

    claims = {"context_id": CONTEXT, "executor_public_key": NODE, "exp": NOW_SECS + 60,
              "token_type": "access", "iat": NOW_SECS, "jti": "fuzz-jti", "sub": CLIENT_03, "reg": "00"}
    structured = lambda access, sub, reg, jti: bytes([3, access, 100, 0, sub, reg, jti, 1]) + bytes(range(64))
    write("jwt", [
        b"\x00eyJhbGciOiJIUzI1NiJ9.e30.sig",
        b"\x01" + j(claims),
        b"\x01" + j(dict(claims, token_type="refresh")),
        b"\x02" + b'{"alg":"HS256"}' + b"\x00" + j(claims),
        b"\x02" + b'{"alg":"none"}' + b"\x00" + j(claims),
        structured(1, 1, 1, 0),
        structured(1, 2, 1, 0),
        structured(0, 1, 1, 1),
        structured(0, 2, 1, 1),
        bytes([3, 1, 0x9c, 0xff, 1, 1, 0, 0]) + bytes(64),
    ])

    write("login", [bytes([flags]) + j(case["body"]) for case in logins for flags in (0x00, 0x7f)])

    eth = vectors["eth"][0]
    message = eth["message"].encode()
    near = vectors["near"][0]
    write("wallet_sigs", [
        b"\x00ed25519:9hSR6S7WPtxmTojgo6GG3k4yDPecgJY292j7xrsUGWBu",
        b"\x009hSR6S7WPtxmTojgo6GG3k4yDPecgJY292j7xrsUGWBu",
        b"\x01" + eth["address"].encode(),
        b"\x02" + bytes([len(message) % 256]) + message[:255] + eth["walletSignature"].encode(),
        b"\x03" + bytes([len(near["walletPublicKey"])]) + near["walletPublicKey"].encode()
        + bytes([len(near["walletSignature"])]) + near["walletSignature"].encode()
        + bytes([len(near["message"]) % 256]) + near["message"].encode()[:255]
        + bytes([0x10] * 32) + bytes([len(near["recipient"])]) + near["recipient"].encode()
        + near["callbackUrl"].encode(),
        b"\x04\x05hello" + bytes(32) + b"\x06my-app" + b"\x00" + b"\x00",
        b"\x04\x05hello" + bytes(32) + b"\x06my-app" + b"\x1bhttp://localhost:3000/login" + b"\x01",
    ])

    write("client_key", [
        bytes([len(CLIENT_03)]) + CLIENT_03.encode() + bytes(64) + b"message",
        bytes([44]) + NODE.encode() + bytes(64),
        b"\x05" + b"4XTTM",
    ])

    root = {"signing_key": "ed25519:9hSR6S7WPtxmTojgo6GG3k4yDPecgJY292j7xrsUGWBu",
            "wallet": {"type": "NEAR"}, "created_at": 1}
    client = {"wallet": {"type": "ETH", "chainId": 1}, "signingKey": CLIENT_03, "createdAt": 2, "contextId": CONTEXT}
    write("auth_records", [
        b"\x00\x01" + j(root),
        b"\x00\x02" + j(root),
        b"\x01\x01" + j({"key": client, "registration": "00ff"}),
        b"\x01\x01" + j({"key": dict(client, contextId=None), "registration": ""}),
        b"\x01",
        b"\x02" + j({"root_keys": [root, dict(root, created_at=3)], "client_keys": [client]}),
        b"\x02{}",
    ])

    write("store_records", [
        b"\x00" + j({"id": ZERO_ID, "blob": NODE, "size": 3, "source": "file:///a.wasm",
                     "metadata": [1], "installed_at": 5}),
        b"\x01" + j({"id": CONTEXT, "application_id": ZERO_ID, "root_hash": ZERO_ID,
                     "last_transaction_hash": ZERO_ID, "last_seq": 1, "delta_height": 0,
                     "last_time_ns": 9, "created_at": 7, "members": [NODE, ZERO_ID],
                     "joined_at": {NODE: 8}, "event_bytes": 10}),
        b"\x01" + j({"id": CONTEXT, "application_id": ZERO_ID, "root_hash": ZERO_ID,
                     "last_transaction_hash": ZERO_ID, "last_seq": 0, "delta_height": 0,
                     "last_time_ns": 0, "created_at": 0}),
        b"\x02" + j({"seq": 1, "transaction_hash": ZERO_ID, "root_hash": ZERO_ID,
                     "events": [["Note", list(b'{"a":1}')]]}),
        b"\x01" + context_row(),
    ])

    write("runtime_host", runtime_programs())
    write("runtime_compile", wasm_modules())

    def borsh(pairs):
        out = struct.pack("<I", len(pairs))
        for name, value in pairs:
            for text in (name, value):
                out += struct.pack("<I", len(text)) + text.encode()
        return out

    write("fetch_headers", [
        borsh([]),
        borsh([("accept", "application/json")]),
        borsh([("a", ""), ("", "b"), ("x-\u00e9", "\u00fc")]),
        struct.pack("<I", 0xFFFFFFFF),
        b"\x01\x00\x00\x00\xc8\x00\x00\x00",
    ])


# ---- runtime_host programs -------------------------------------------------

# Op codes of runtime_host.rs's interpreter.
OPS = {name: i for i, name in enumerate([
    "panic", "panic_utf8", "register_len", "read_register", "context_id", "executor_id",
    "input", "value_return", "log_utf8", "emit", "commit", "storage_read", "storage_remove",
    "storage_write", "fetch", "random_bytes", "time_now", "send_proposal", "approve_proposal",
    "blob_create", "blob_open", "blob_read", "blob_write", "blob_close",
    "blob_announce_to_context", "memory_grow", "store",
])}
OPS["stop"] = 31


class Program:
    """Records first, then a data area; addresses are guest addresses (the
    call input is copied to address 0)."""

    def __init__(self, records):
        # (op, [args]) with symbolic args; a stop record keeps the data area
        # from being run as records.
        self.records = records + [("stop", [])]
        self.data = b""
        self.labels = {}

    def put(self, label, raw):
        self.labels[label] = len(self.data)
        self.data += raw

    def build(self, setup):
        base = 48 * len(self.records)

        def resolve(arg):
            if isinstance(arg, str):
                return base + self.labels[arg]
            return arg

        out = b""
        for op, args in self.records:
            args = [resolve(a) for a in args] + [0] * (5 - len(args))
            out += bytes([OPS[op], 0]) + bytes(6) + struct.pack("<5Q", *args)
        return bytes([setup]) + out + self.data


def runtime_programs():
    programs = []

    # Storage, logs, events, return value, time, randomness, commit.
    p = Program([
        ("storage_write", ["pkey", "pvalue", 1]),
        ("storage_read", ["pkey", 2]),
        ("register_len", [2]),
        ("log_utf8", ["plog"]),
        ("emit", ["pevent"]),
        ("time_now", ["ptime"]),
        ("random_bytes", ["prandom"]),
        ("value_return", ["preturn"]),
        ("storage_remove", ["pkey", 3]),
        ("commit", ["proot", "partifact"]),
    ])
    p.put("key", b"key2")
    p.put("value", b"value2")
    p.put("log", b"hello log")
    p.put("kind", b"Note")
    p.put("edata", b'{"a":1}')
    p.put("root", bytes(range(32)))
    p.put("scratch", bytes(32))
    # Descriptors are written by fill() once the data is laid out.
    p.put("pkey", bytes(16))
    p.put("pvalue", bytes(16))
    p.put("plog", bytes(16))
    p.put("pevent", bytes(32))
    p.put("ptime", bytes(16))
    p.put("prandom", bytes(16))
    p.put("preturn", bytes(24))
    p.put("proot", bytes(16))
    p.put("partifact", bytes(16))
    descriptors = {
        "pkey": [("key", 4)],
        "pvalue": [("value", 6)],
        "plog": [("log", 9)],
        "pevent": [("kind", 4), ("edata", 7)],
        "ptime": [("scratch", 8)],
        "prandom": [("scratch", 32)],
        "preturn": None,
        "proot": [("root", 32)],
        "partifact": [("edata", 7)],
    }
    programs += [fill(p, descriptors, {"preturn": (0, "value", 6)}, setup) for setup in (0x01, 0x00)]

    # Blobs: create, write, close; open the stored blob, read it, announce it.
    p = Program([
        ("blob_create", []),
        ("blob_write", [1, "pdata"]),
        ("blob_close", [1, "pidout"]),
        ("blob_open", ["pstored"]),
        ("blob_read", [2, "pdest"]),
        ("blob_announce_to_context", ["pidout", "pctx"]),
        ("blob_close", [2, "pidout"]),
    ])
    p.put("data", b"blob bytes")
    p.put("idout", bytes(32))
    p.put("stored", bytes([0x42] * 32))
    p.put("dest", bytes(16))
    p.put("ctx", bytes([0x11] * 32))
    for label in ("pdata", "pidout", "pstored", "pdest", "pctx"):
        p.put(label, bytes(16))
    descriptors = {
        "pdata": [("data", 10)],
        "pidout": [("idout", 32)],
        "pstored": [("stored", 32)],
        "pdest": [("dest", 16)],
        "pctx": [("ctx", 32)],
    }
    programs.append(fill(p, descriptors, {}, 0x03))

    # fetch with a borsh header list, then read the reply register.
    p = Program([
        ("fetch", ["purl", "pmethod", "pheaders", "pbody", 5]),
        ("register_len", [5]),
        ("read_register", [5, "pdest"]),
    ])
    headers = struct.pack("<I", 1) + struct.pack("<I", 6) + b"accept" + struct.pack("<I", 4) + b"json"
    p.put("url", b"https://example.invalid/")
    p.put("method", b"GET")
    p.put("headers", headers)
    p.put("body", b"")
    p.put("dest", bytes(32))
    for label in ("purl", "pmethod", "pheaders", "pbody", "pdest"):
        p.put(label, bytes(16))
    descriptors = {
        "purl": [("url", 24)],
        "pmethod": [("method", 3)],
        "pheaders": [("headers", len(headers))],
        "pbody": [("body", 0)],
        "pdest": [("dest", 24)],
    }
    programs.append(fill(p, descriptors, {}, 0x05))

    # A guest panic with a message and a location.
    p = Program([("panic_utf8", ["pmsg", "ploc"])])
    p.put("msg", b"kaboom")
    p.put("file", b"src/lib.rs")
    p.put("pmsg", bytes(16))
    p.put("ploc", bytes(24))
    programs.append(fill(p, {"pmsg": [("msg", 6)]}, {"ploc": ("loc", "file", 10, 64, 26)}, 0x01))

    # Every other export.
    programs += [bytes([method << 3]) for method in range(4, 8)]
    return programs


def fill(program, descriptors, special, setup):
    """Writes buffer descriptors (and the special ones) into the data area."""
    base = 48 * len(program.records)
    data = bytearray(program.data)

    def address(label):
        return base + program.labels[label]

    for label, buffers in descriptors.items():
        if buffers is None:
            continue
        raw = b"".join(struct.pack("<QQ", address(target), length) for target, length in buffers)
        at = program.labels[label]
        data[at:at + len(raw)] = raw
    for label, spec in special.items():
        at = program.labels[label]
        if spec[0] == "loc":
            _, file_label, file_len, line, column = spec
            raw = struct.pack("<QQII", address(file_label), file_len, line, column)
        else:
            tag, target, length = spec
            raw = struct.pack("<QQQ", tag, address(target), length)
        data[at:at + len(raw)] = raw
    program.data = bytes(data)
    return program.build(setup)


# ---- runtime_compile modules -----------------------------------------------

def section(sid, content):
    return bytes([sid]) + leb(len(content)) + content


def leb(n):
    out = b""
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out += bytes([byte | 0x80])
        else:
            return out + bytes([byte])


def name(text):
    return leb(len(text)) + text.encode()


def wasm_modules():
    header = b"\x00asm\x01\x00\x00\x00"
    memory = section(5, b"\x01\x00\x01")
    export_memory = section(7, b"\x01" + name("memory") + b"\x02\x00")
    only_memory = header + memory + export_memory

    types = section(1, b"\x01\x60\x00\x00")
    funcs = section(3, b"\x01\x00")
    exports = section(7, b"\x02" + name("memory") + b"\x02\x00" + name("run") + b"\x00\x00")
    code = section(10, b"\x01\x02\x00\x0b")
    with_method = header + types + funcs + memory + exports + code

    # Imports env.log_utf8 (i64) -> () and calls it from `run`.
    types2 = section(1, b"\x02\x60\x00\x00\x60\x01\x7e\x00")
    imports = section(2, b"\x01" + name("env") + name("log_utf8") + b"\x00\x01")
    funcs2 = section(3, b"\x01\x00")
    exports2 = section(7, b"\x02" + name("memory") + b"\x02\x00" + name("run") + b"\x00\x01")
    body = b"\x00" + b"\x42\x00" + b"\x10\x00" + b"\x0b"  # no locals; i64.const 0; call 0; end
    code2 = section(10, b"\x01" + leb(len(body)) + body)
    with_import = header + types2 + imports + funcs2 + memory + exports2 + code2

    # An import the ABI does not have.
    bad_import = header + types2 + section(2, b"\x01" + name("env") + name("nope") + b"\x00\x01") \
        + funcs2 + memory + exports2 + code2

    return [only_memory, with_method, with_import, bad_import, header, header + types]


if __name__ == "__main__":
    sys.exit(main())
