#!/usr/bin/env python3
"""Writes the fuzz harnesses' seed corpora from the shared test vectors: OUT/<harness>/<sha1> per seed.

Usage: fuzz_seeds.py TESTDATA OUT

llhttp's request and response cases seed the HTTP harnesses (behind the flags byte and split point that
Fuzz/Support/FuzzInput.swift reads), their chunked bodies the chunked decoder, Wycheproof's JWS and JWK
vectors the JSON, base64url and token harnesses. Nothing is copied into the repository: run it again each time.
"""
import base64
import hashlib
import json
import os
import re
import sys

testdata, out = sys.argv[1], sys.argv[2]
counts = {}


def write(harness, data):
    folder = os.path.join(out, harness)
    os.makedirs(folder, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    path = os.path.join(folder, name)
    if not os.path.exists(path):
        with open(path, "wb") as handle:
            handle.write(data)
        counts[harness] = counts.get(harness, 0) + 1


def fuzz_input(flags, data):
    """FuzzInput: a flags byte, a little-endian 16-bit split point (here the middle), the bytes."""
    split = len(data) // 2
    return bytes([flags, split & 0xFF, split >> 8]) + data


def llhttp_blocks(kind):
    """Every ```http block of llhttp's markdown cases, decoded by its md-test rules (the final newline of a
    block dropped, a backslash at line end joining lines, newlines as CRLF, then \\r \\n \\t \\f \\xHH)."""
    folder = os.path.join(testdata, "llhttp", "test", kind)
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".md"):
            continue
        with open(os.path.join(folder, name), encoding="utf-8") as handle:
            text = handle.read()
        for block in re.findall(r"^```http\n(.*?)^```", text, flags=re.S | re.M):
            block = block[:-1] if block.endswith("\n") else block
            block = block.replace("\\\n", "").replace("\n", "\r\n")
            yield decode_escapes(block)


def decode_escapes(block):
    data = bytearray()
    index = 0
    simple = {"r": 13, "n": 10, "t": 9, "f": 12}
    while index < len(block):
        char = block[index]
        if char == "\\" and index + 1 < len(block):
            following = block[index + 1]
            if following in simple:
                data.append(simple[following])
                index += 2
                continue
            if following == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", block[index + 2 : index + 4]):
                data.append(int(block[index + 2 : index + 4], 16))
                index += 4
                continue
        data += char.encode()
        index += 1
    return bytes(data)


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


chunked = re.compile(rb"transfer-encoding:[ \t]*chunked\r\n", re.I)
for kind, harness in (("request", "FuzzRequestHead"), ("response", "FuzzResponse")):
    for message in llhttp_blocks(kind):
        write(harness, fuzz_input(0, message))
        if chunked.search(message) and b"\r\n\r\n" in message:
            write("FuzzChunkedBody", fuzz_input(0, message.split(b"\r\n\r\n", 1)[1]))
    if kind == "response":
        # Answers to a WebSocket upgrade (flags 0x80): a 101 with the tunnel's first frame behind it, and a refusal.
        for message in llhttp_blocks(kind):
            if message.startswith(b"HTTP/1.1 101"):
                write(harness, fuzz_input(0x80, message))
        write(harness, fuzz_input(0x80, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                        b"Connection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n\x81\x05hello"))
        write(harness, fuzz_input(0x80, b"HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\n\r\nno\n"))

wycheproof = os.path.join(testdata, "wycheproof")
for name in ("json_web_signature_test.json", "json_web_key_test.json"):
    with open(os.path.join(wycheproof, name), encoding="utf-8") as handle:
        document = json.load(handle)
    for group in document["testGroups"]:
        for key in ("private", "public"):
            if key in group:
                write("FuzzStrictJSON", json.dumps(group[key]).encode())
        for test in group["tests"]:
            write("FuzzStrictJSON", json.dumps(test, separators=(",", ":")).encode())
            jws = test.get("jws")
            if not isinstance(jws, str):
                continue
            if jws.lstrip().startswith("{"):
                write("FuzzStrictJSON", jws.encode())
                continue
            write("FuzzToken", jws.encode())
            for part in jws.split("."):
                write("FuzzBase64URL", part.encode())
            for part in jws.split(".")[:2]:
                try:
                    write("FuzzStrictJSON", unb64(part))
                except ValueError:
                    pass

# Tokens shaped as the user pool's, for the names Fuzz/Token/main.swift verifies against: the harness signs
# them itself, so the placeholder signature is replaced and the claim rules are reached. Each payload is also
# given alone, the harness's JSON form, whose mutations change the claims themselves.
now = 1_700_000_000
issuer = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Fuzz"
second_issuer = "https://issuer-cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Fuzz2"
claims = [
    {"iss": issuer, "token_use": "id", "aud": "fuzzclient", "sub": "11111111-2222-3333-4444-555555555555",
     "cognito:username": "alice", "cognito:groups": ["admins", "staff"], "exp": now + 3600, "iat": now - 10},
    {"iss": issuer, "token_use": "access", "client_id": "fuzzclient", "sub": "bob", "username": "bob",
     "scope": "openid orders/read", "exp": now + 60, "iat": now - 10, "nbf": now - 10},
    {"iss": issuer, "token_use": "id", "aud": ["other", "fuzzclient"], "sub": "carol", "exp": now + 1},
    # The harness's second pool (access tokens only), and the first pool's client in its token.
    {"iss": second_issuer, "token_use": "access", "client_id": "fuzzclient2", "sub": "dave", "exp": now + 60},
    {"iss": second_issuer, "token_use": "access", "client_id": "fuzzclient", "sub": "erin", "exp": now + 60},
]
header = json.dumps({"alg": "RS256", "kid": "fuzz"}, separators=(",", ":")).encode()
for claim in claims:
    payload = json.dumps(claim, separators=(",", ":")).encode()
    write("FuzzToken", b".".join([b64(header), b64(payload), b64(bytes(256))]))
    write("FuzzToken", payload)
    write("FuzzStrictJSON", payload)
    write("FuzzBase64URL", b64(payload))

# X-Forwarded-For entries as proxies write them, and the shapes around them.
for entry in ["192.0.2.1", "10.0.0.255", "0.0.0.0", "255.255.255.255", "::", "::1", "2001:db8::8:800:200c:417a",
              "::ffff:192.0.2.1", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:1.2.3.4", "fe80::1%eth0", "192.0.2.1:443",
              "[2001:db8::1]:8080", "[::ffff:10.0.0.1]:1", "unknown", "01.2.3.4", "1::2::3"]:
    write("FuzzAddress", entry.encode())
# Redis replies as the cluster store receives them (no shared vectors: written here), behind FuzzInput's header.
redis_replies = [
    b"+OK\r\n", b"-NOSCRIPT No matching script. Please use EVAL.\r\n", b":0\r\n", b":-1\r\n",
    b"$40\r\n" + b"a" * 40 + b"\r\n", b"$-1\r\n", b"*-1\r\n", b"*0\r\n",
    b"*3\r\n$9\r\nsubscribe\r\n$20\r\nauthgate:revocations\r\n:1\r\n",
    b"*3\r\n$7\r\nmessage\r\n$20\r\nauthgate:revocations\r\n$27\r\n1733100000:1733186400:sub-1\r\n",
    b"*2\r\n$1\r\n0\r\n*2\r\n$25\r\nauthgate:revoked:sub-1234\r\n$5\r\nother\r\n",
    b"*2\r\n$21\r\n1733100000:1733186400\r\n$-1\r\n",
]
for reply in redis_replies:
    write("FuzzRedisReply", fuzz_input(0, reply))
write("FuzzRedisReply", fuzz_input(0, b"".join(redis_replies)))

# Dictionaries: words libFuzzer splices into inputs, which random mutation rarely spells.
words = {
    "FuzzRequestHead": ["\r\n", "\r\n\r\n", "HTTP/1.1", "HTTP/1.0", "Host: ", "Content-Length: ",
                        "Transfer-Encoding: chunked", "Connection: close", "Connection: keep-alive",
                        "Expect: 100-continue", "http://", "OPTIONS * ", "HEAD "],
    "FuzzResponse": ["\r\n", "\r\n\r\n", "HTTP/1.1 ", "HTTP/1.0 ", "100 ", "200 ", "204 ", "304 ",
                     "Content-Length: ", "Transfer-Encoding: chunked", "Connection: close",
                     "101 ", "Upgrade: websocket", "Connection: Upgrade"],
    "FuzzAddress": ["::", "::ffff:", ".", ":", "[", "]:", "255", "65535", "%"],
    "FuzzRedisReply": ["\r\n", "*", "$", ":", "+", "-", "$-1\r\n", "*-1\r\n", "2147483647", "-2", "message",
                       "subscribe", "authgate:revocations", "1733100000:1733186400:"],
    "FuzzChunkedBody": ["\r\n", "0\r\n\r\n", ";name=value", ";name=\"quoted\\\"\"", "fffffffffffffff"],
    "FuzzStrictJSON": ["\\u0000", "\\u001f", "\\u007f", "\\ud83d\\ude00", "\\udc00", "\\n", "1e308",
                       "-0.0e-0", "true", "false", "null", "\"\":"],
}
words["FuzzToken"] = words["FuzzStrictJSON"] + [
    f'"{name}":' for name in ("alg", "kid", "crit", "iss", "sub", "aud", "exp", "nbf", "iat", "token_use",
                              "client_id", "username", "cognito:username", "cognito:groups", "scope")
] + ['"RS256"', '"fuzz"', '"fuzzclient"', '"id"', '"access"', f'"{issuer}"', str(now)]
for harness, entries in words.items():
    with open(os.path.join(out, harness + ".dict"), "w") as handle:
        for entry in entries:
            handle.write('"' + "".join(f"\\x{byte:02x}" for byte in entry.encode()) + '"\n')

print("fuzz: seeds " + ", ".join(f"{harness} {count}" for harness, count in sorted(counts.items())))
