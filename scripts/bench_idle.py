#!/usr/bin/env python3
"""Holds COUNT idle keep-alive connections to one server on 127.0.0.1, for scripts/bench.

Each connection sends one complete GET (with a bearer token from TOKENS, one a line, taken in turn),
reads the whole answer, then stays open and idle. When all are open it waits SETTLE seconds, sums
VmRSS over the given processes, closes every connection with a reset (so no TIME_WAIT is left to use
up the ephemeral ports of later runs) and prints one line:

  opened=N answered=N still_open=N statuses=200:N failures=- rss_before_kib=N rss_kib=N seconds=S

rss_before_kib is read just before the first connection opens. Bounded: at most CONCURRENCY
connections are being opened or answered at once, each connect and each answer has a 10 s limit,
and the whole opening phase --timeout seconds. It only ever connects to 127.0.0.1.
"""
import argparse
import asyncio
import collections
import resource
import socket
import struct
import sys
import time

HOST = "127.0.0.1"
STEP_SECONDS = 10


def rss_kib(pids):
    """The sum of VmRSS over these processes, in KiB (a process that is gone counts 0)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def raise_file_limit(count):
    need = count + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        sys.exit(f"bench_idle: {count} connections need {need} open files; the hard limit is {hard}")
    target = hard if hard != resource.RLIM_INFINITY else max(soft, need)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def check_ports(count):
    with open("/proc/sys/net/ipv4/ip_local_port_range") as ports:
        low, high = (int(field) for field in ports.read().split())
    if count > high - low + 1:
        sys.exit(f"bench_idle: {count} connections to one port need that many ephemeral ports; "
                 f"ip_local_port_range has {high - low + 1}")


async def read_answer(reader):
    """Reads one whole HTTP/1.1 answer; returns its status and whether the server keeps the connection."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    headers = {}
    for line in head[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip().lower()
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").endswith("chunked"):
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)  # the data and its CRLF; for the last chunk, the final CRLF
            if size == 0:
                break
    else:
        return status, False  # delimited by the close: not a keep-alive answer
    return status, headers.get("connection") != "close"


async def hold(port, count, tokens, pids, concurrency, timeout, settle):
    gate = asyncio.Semaphore(concurrency)
    statuses = collections.Counter()
    failures = collections.Counter()
    connections = []

    async def one(index):
        async with gate:
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), STEP_SECONDS)
            except (OSError, asyncio.TimeoutError) as error:
                failures["connect:" + type(error).__name__] += 1
                return
            connections.append((reader, writer))
            token = tokens[index % len(tokens)]
            writer.write(f"GET /bench HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
                         f"Authorization: Bearer {token}\r\n\r\n".encode())
            try:
                status, kept = await asyncio.wait_for(read_answer(reader), STEP_SECONDS)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError,
                    asyncio.LimitOverrunError, ValueError, IndexError) as error:
                failures["answer:" + type(error).__name__] += 1
                return
            statuses[status] += 1
            if not kept:
                failures["answer:not-keep-alive"] += 1

    rss_before = rss_kib(pids)
    started = time.monotonic()
    try:
        await asyncio.wait_for(asyncio.gather(*(one(index) for index in range(count))), timeout)
    except asyncio.TimeoutError:
        failures["timeout"] += 1
    seconds = time.monotonic() - started
    await asyncio.sleep(settle)
    still_open = sum(1 for reader, writer in connections
                     if not reader.at_eof() and not writer.transport.is_closing())
    rss = rss_kib(pids)
    for _, writer in connections:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        writer.transport.abort()
    await asyncio.sleep(0.1)  # lets the transports close their sockets
    return {
        "opened": len(connections),
        "answered": sum(statuses.values()),
        "still_open": still_open,
        "statuses": ",".join(f"{code}:{number}" for code, number in sorted(statuses.items())) or "-",
        "failures": ",".join(f"{name}:{number}" for name, number in sorted(failures.items())) or "-",
        "rss_before_kib": rss_before,
        "rss_kib": rss,
        "seconds": f"{seconds:.1f}",
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True, help="the server's port on 127.0.0.1")
    parser.add_argument("--count", type=int, default=10000, help="connections to hold (default 10000)")
    parser.add_argument("--tokens", required=True, help="a file of bearer tokens, one a line")
    parser.add_argument("--pids", type=int, nargs="*", default=[], help="the server's processes, for VmRSS")
    parser.add_argument("--concurrency", type=int, default=200, help="connections being opened at once")
    parser.add_argument("--timeout", type=float, default=120, help="seconds for opening them all")
    parser.add_argument("--settle", type=float, default=1.0, help="seconds idle before VmRSS is read")
    args = parser.parse_args()
    if not 1 <= args.count <= 100_000 or not 1 <= args.concurrency <= 10_000:
        sys.exit("bench_idle: --count must be 1 to 100000, --concurrency 1 to 10000")
    if not 0 < args.timeout <= 600 or not 0 <= args.settle <= 60:
        sys.exit("bench_idle: --timeout must be over 0 and at most 600, --settle 0 to 60")
    with open(args.tokens) as handle:
        tokens = [line.strip() for line in handle if line.strip()]
    if not tokens:
        sys.exit(f"bench_idle: no tokens in {args.tokens}")
    raise_file_limit(args.count)
    check_ports(args.count)
    result = asyncio.run(hold(args.port, args.count, tokens, args.pids, args.concurrency, args.timeout, args.settle))
    print(" ".join(f"{key}={value}" for key, value in result.items()))


if __name__ == "__main__":
    main()
