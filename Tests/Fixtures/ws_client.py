#!/usr/bin/env python3
"""A WebSocket client for authgate's tests (the `websockets` package, no compression): connects to --url with
--token as a bearer token and prints one JSON line with what it saw. Modes:
  echo        sends text and binary messages (up to --size bytes), checks each echo by SHA-256
  headers     prints the upstream's first message (the header fields it received)
  stall       pushes --size random bytes to a reader that does not read, for --window seconds; then releases it
              (creates --release) and checks the upstream's SHA-256 of everything
  flood       reads nothing until the upstream wrote --report (what it could send meanwhile), then reads it all
  wait-close  one echo, then waits for authgate to close the connection; prints when (time.time()) it started,
              got the echo (the tunnel's last byte) and saw the close
--pid names authgate's process: its resident memory is reported where the modes hold data back. A wss:// URL is
spoken over TLS, trusting --cafile."""
import argparse
import asyncio
import hashlib
import json
import os
import socket
import ssl
import time
import urllib.parse

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

parser = argparse.ArgumentParser()
parser.add_argument("mode")
parser.add_argument("--url", required=True)
parser.add_argument("--token", default="")
parser.add_argument("--size", type=int, default=1024)
parser.add_argument("--window", type=float, default=3)
parser.add_argument("--release", default="")
parser.add_argument("--report", default="")
parser.add_argument("--pid", type=int, default=0)
parser.add_argument("--timeout", type=float, default=20)
parser.add_argument("--cafile", default="")
arguments = parser.parse_args()

MIB = 1024 * 1024


def resident_kib(pid):
    if not pid:
        return 0
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def small_socket():
    """A connected socket with small kernel buffers: what the test holds back stays in authgate's hands or the
    kernel's buffers on authgate's side, not in this process's."""
    parts = urllib.parse.urlsplit(arguments.url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
    sock.connect((parts.hostname, parts.port))
    return sock


def open_connection(**options):
    headers = {"Authorization": "Bearer " + arguments.token} if arguments.token else {}
    if arguments.url.startswith("wss:"):
        options["ssl"] = ssl.create_default_context(cafile=arguments.cafile)
        options["server_hostname"] = urllib.parse.urlsplit(arguments.url).hostname
    return connect(arguments.url, additional_headers=headers, compression=None, max_size=64 * MIB,
                   ping_interval=None, open_timeout=10, close_timeout=2, sock=small_socket(), **options)


async def echo():
    async with open_connection() as ws:
        checked = []
        for size in [1, 125, 126, 65535, 65536, arguments.size]:
            for kind in ("text", "binary"):
                payload = ("x" * size) if kind == "text" else os.urandom(size)
                await ws.send(payload)
                answer = await ws.recv()
                sent = payload.encode() if kind == "text" else payload
                got = answer.encode() if isinstance(answer, str) else answer
                checked.append({"kind": kind, "size": size, "same_type": type(answer) is type(payload),
                                "ok": hashlib.sha256(sent).hexdigest() == hashlib.sha256(got).hexdigest()})
        return {"checked": checked}


async def headers():
    async with open_connection() as ws:
        return json.loads(await ws.recv())


async def stall():
    async with open_connection(write_limit=65536) as ws:
        digest = hashlib.sha256()
        sent = 0
        before = resident_kib(arguments.pid)
        deadline = time.monotonic() + arguments.window
        held_back_at = None
        while sent < arguments.size:
            piece = os.urandom(min(MIB, arguments.size - sent))
            send = asyncio.ensure_future(ws.send(piece))
            if held_back_at is None:
                done, _ = await asyncio.wait([send], timeout=max(0, deadline - time.monotonic()))
                if not done:
                    held_back_at = sent
                    stalled = resident_kib(arguments.pid)
                    open(arguments.release, "w").close()
            await send
            digest.update(piece)
            sent += len(piece)
        if held_back_at is None:
            stalled = resident_kib(arguments.pid)
            open(arguments.release, "w").close()
        await ws.send("done")
        answer = json.loads(await ws.recv())
        return {"held_back_at": held_back_at, "sent": sent, "rss_before_kib": before, "rss_stalled_kib": stalled,
                "upstream_bytes": answer["bytes"], "same_sha256": answer["sha256"] == digest.hexdigest()}


async def flood():
    async with open_connection(max_queue=1) as ws:
        before = resident_kib(arguments.pid)
        deadline = time.monotonic() + 60
        while not os.path.exists(arguments.report) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        with open(arguments.report) as report:
            sent_before_reading = int(report.read() or "0")
        stalled = resident_kib(arguments.pid)
        digest = hashlib.sha256()
        total = 0
        while True:
            message = await ws.recv()
            if isinstance(message, str):
                answer = json.loads(message)
                break
            digest.update(message)
            total += len(message)
        return {"sent_before_reading": sent_before_reading, "received": total, "rss_before_kib": before,
                "rss_stalled_kib": stalled, "upstream_bytes": answer["bytes"],
                "same_sha256": answer["sha256"] == digest.hexdigest()}


async def wait_close():
    start = time.time()
    async with open_connection() as ws:
        await ws.send("hello")
        echoed = await ws.recv()
        echoed_at = time.time()
        try:
            await asyncio.wait_for(ws.recv(), timeout=arguments.timeout)
            return {"closed": False, "echoed": echoed == "hello", "unexpected": "a message"}
        except ConnectionClosed as closed:
            return {"closed": True, "echoed": echoed == "hello", "started": start, "echoed_at": echoed_at,
                    "closed_at": time.time(), "close_frame": closed.rcvd is not None}
        except asyncio.TimeoutError:
            return {"closed": False, "echoed": echoed == "hello"}


async def main():
    mode = {"echo": echo, "headers": headers, "stall": stall, "flood": flood, "wait-close": wait_close}
    try:
        result = await mode[arguments.mode]()
    except InvalidStatus as refused:
        result = {"refused": refused.response.status_code}
    print(json.dumps(result), flush=True)


asyncio.run(main())
