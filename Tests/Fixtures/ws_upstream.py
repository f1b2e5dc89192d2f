#!/usr/bin/env python3
"""A WebSocket upstream on loopback for authgate's tests (the `websockets` package, no compression). The last
segment of the request path picks what it does:
  echo      every message back as it came
  headers   first a text message with the request's header fields as JSON, then echo
  stall     reads nothing until the file named by ?release= exists, then takes binary messages until the text
            "done" and answers with their length and SHA-256 (a slow reader: the sender must be held back)
  flood     sends ?bytes= random bytes in 1 MiB messages; the count it got into the socket before the client read
            anything (within ?window= seconds) goes to the file named by ?report=; then the text message
            {"bytes", "sha256"} of everything sent
  vanish    closes the TCP connection right after the handshake, without a close frame
  refuse    answers an upgrade with 403: a non-101 answer
  raw101    answers any request, upgrade or not, with a 101 (authgate must refuse one it did not ask for)
  http      answers a plain request with 200 and its header fields as JSON (what reached the upstream)
Every request's path is appended to --requests-log, a line each. Prints "ready" once listening."""
import argparse
import asyncio
import hashlib
import json
import os
import socket
import sys
import time
import urllib.parse

from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--requests-log", required=True)
arguments = parser.parse_args()

LIMIT = 64 * 1024 * 1024
MIB = 1024 * 1024


def mode_and_query(path):
    parts = urllib.parse.urlsplit(path)
    return parts.path.rsplit("/", 1)[-1], dict(urllib.parse.parse_qsl(parts.query))


def header_fields(request):
    return [[name, value] for name, value in request.headers.raw_items()]


def process_request(connection, request):
    with open(arguments.requests_log, "a") as log:
        log.write(request.path + "\n")
    mode, _ = mode_and_query(request.path)
    if mode == "refuse":
        return connection.respond(403, "refused\n")
    if mode == "raw101":
        return Response(101, "Switching Protocols", Headers([("Upgrade", "websocket"), ("Connection", "Upgrade")]))
    if mode == "http":
        body = json.dumps({"headers": header_fields(request)}).encode()
        # websockets closes the connection after an answer of process_request: it says so.
        return Response(200, "OK", Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                                            ("Connection", "close")]), body)
    if mode in ("stall", "flood"):
        # Small buffers, so that what this end's kernel takes is small too: what is held back is held by authgate's.
        sock = connection.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF if mode == "stall" else socket.SO_SNDBUF, 65536)
    return None


async def wait_for_file(path, seconds=60):
    deadline = time.monotonic() + seconds
    while not os.path.exists(path) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


async def handler(connection):
    mode, query = mode_and_query(connection.request.path)
    try:
        if mode == "vanish":
            connection.transport.abort()
            return
        if mode == "headers":
            await connection.send(json.dumps({"headers": header_fields(connection.request)}))
        if mode in ("echo", "headers"):
            async for message in connection:
                await connection.send(message)
        elif mode == "stall":
            connection.transport.pause_reading()
            await wait_for_file(query["release"])
            connection.transport.resume_reading()
            digest = hashlib.sha256()
            total = 0
            async for message in connection:
                if message == "done":
                    break
                digest.update(message)
                total += len(message)
            await connection.send(json.dumps({"bytes": total, "sha256": digest.hexdigest()}))
        elif mode == "flood":
            await flood(connection, int(query["bytes"]), query["report"], float(query.get("window", "3")))
        await connection.wait_closed()
    except ConnectionClosed:
        pass


async def flood(connection, size, report, window):
    digest = hashlib.sha256()
    sent = 0
    reported = False
    deadline = time.monotonic() + window
    while sent < size:
        piece = os.urandom(min(MIB, size - sent))
        digest.update(piece)
        send = asyncio.ensure_future(connection.send(piece))
        if not reported:
            remaining = deadline - time.monotonic()
            done, _ = await asyncio.wait([send], timeout=max(0, remaining))
            if not done:
                # Held back: everything before this message is in the kernel's buffers or authgate's.
                with open(report, "w") as out:
                    out.write(str(sent))
                reported = True
        await send
        sent += len(piece)
    if not reported:
        with open(report, "w") as out:
            out.write(str(sent))
    await connection.send(json.dumps({"bytes": sent, "sha256": digest.hexdigest()}))


async def main():
    async with serve(handler, "127.0.0.1", arguments.port, process_request=process_request, compression=None,
                     max_size=LIMIT, ping_interval=None, server_header=None):
        print("ready", flush=True)
        await asyncio.Future()


asyncio.run(main())
