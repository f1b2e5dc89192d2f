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
  slow101   holds its 101 until the file named by ?release= exists, then echoes
  refuse    answers an upgrade with 403: a non-101 answer
  raw101    answers any request, upgrade or not, with a 101 (authgate must refuse one it did not ask for)
  http      answers a plain request with 200 and its header fields as JSON (what reached the upstream)
It answers on --keep-alive-port too, plain HTTP/1.1 that keeps every connection open (websockets closes one after
any answer but a 101): an upgrade is declined with 403, any other request answered with 200.
Every request goes to --requests-log, a line each: the number of the TCP connection it came on (counted from 1
over both ports), a space, its path. Prints "ready" once listening."""
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
parser.add_argument("--keep-alive-port", type=int, required=True)
arguments = parser.parse_args()

LIMIT = 64 * 1024 * 1024
MIB = 1024 * 1024


def mode_and_query(path):
    parts = urllib.parse.urlsplit(path)
    return parts.path.rsplit("/", 1)[-1], dict(urllib.parse.parse_qsl(parts.query))


def header_fields(request):
    return [[name, value] for name, value in request.headers.raw_items()]


connections = 0


def new_connection_number():
    global connections
    connections += 1
    return connections


def log_request(number, path):
    with open(arguments.requests_log, "a") as log:
        log.write("%d %s\n" % (number, path))


async def process_request(connection, request):
    # websockets serves one request per connection.
    log_request(new_connection_number(), request.path)
    mode, query = mode_and_query(request.path)
    if mode == "slow101":
        await wait_for_file(query["release"])
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
        if mode in ("echo", "headers", "slow101"):
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


async def keep_alive(reader, writer):
    """One connection on --keep-alive-port: requests without bodies, answered in turn until the peer closes."""
    number = new_connection_number()
    try:
        while True:
            lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            log_request(number, lines[0].split(" ")[1])
            if any(line.lower().startswith("upgrade:") for line in lines[1:]):
                status, body = b"403 Forbidden", b"declined\n"
            else:
                status, body = b"200 OK", b"plain\n"
            writer.write(b"HTTP/1.1 %s\r\nContent-Length: %d\r\n\r\n%s" % (status, len(body), body))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main():
    plain = await asyncio.start_server(keep_alive, "127.0.0.1", arguments.keep_alive_port)
    async with plain, serve(handler, "127.0.0.1", arguments.port, process_request=process_request,
                            compression=None, max_size=LIMIT, ping_interval=None, server_header=None):
        print("ready", flush=True)
        await asyncio.Future()


asyncio.run(main())
