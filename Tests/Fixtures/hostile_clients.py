#!/usr/bin/env python3
"""Hostile HTTP clients for authgate's tests: malformed, truncated, smuggling-ish and pipelined requests,
resets, half-closes, clients that vanish inside a request or inside an answer, and plain short
connections, in load phases that switch between calm (a few connections at a time) and storm (a couple
of hundred at once).

It only makes load: it never judges the answers beyond bounding every socket operation with a timeout.
It is bounded (it stops after --connections connections or --seconds seconds, whichever comes first,
and every connection has a hard deadline), talks only to loopback, and is deterministic given --seed:
the sequence of connections (case, variant, sizes, offsets, delays) is drawn from the seed alone, while
the interleaving of course depends on the scheduler.

At the end it prints one summary line, "hostile_clients: connections=N ... cases: name=count ...", and
exits 0."""
import argparse
import asyncio
import random
import socket
import struct
import sys
import time
from collections import Counter

LOOPBACK = {"127.0.0.1", "::1"}

# Cases of the mix: "short" is the crash regression's (mutated requests and short connections, each closed
# by the client after a short random delay); "all" adds resets, half-closes, vanishing at every byte
# offset of a request and inside an answer, and oversized bodies.
SHORT_CASES = [
    ("short", 6),
    ("connect_close", 2),
    ("auth", 3),
    ("truncated_body", 2),
    ("bad_chunk", 2),
    ("bad_request_line", 3),
    ("smuggling", 1),
    ("pipelined_garbage", 1),
]
ALL_CASES = SHORT_CASES + [
    ("oversized_body", 1),
    ("reset", 2),
    ("half_close", 1),
    ("vanish_request", 3),
    ("vanish_answer", 2),
]

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--host", default="127.0.0.1", help="127.0.0.1 or ::1 only")
parser.add_argument("--port", type=int, required=True, help="authgate's public port")
parser.add_argument("--seed", type=int, default=1)
parser.add_argument("--mode", choices=["short", "all"], default="all")
parser.add_argument("--cases", default="", help="comma-separated: only these cases of the mode's mix")
parser.add_argument("--connections", type=int, default=2000, help="stop after this many connections")
parser.add_argument("--seconds", type=float, default=30, help="start no connection after this many seconds")
parser.add_argument("--calm", type=int, default=4, help="concurrent connections in a calm phase")
parser.add_argument("--storm", type=int, default=200, help="concurrent connections in a storm phase")
parser.add_argument("--calm-connections", type=int, default=40, help="connections per calm phase")
parser.add_argument("--storm-connections", type=int, default=600, help="connections per storm phase")
parser.add_argument("--min-delay", type=float, default=0.0, help="shortest wait before the client closes")
parser.add_argument("--max-delay", type=float, default=0.5, help="longest wait before the client closes")
parser.add_argument("--op-timeout", type=float, default=5, help="bound of each connect, send and receive")
parser.add_argument("--open-prefix", default="/upstream", help="a route with auth = \"none\"")
parser.add_argument("--auth-prefix", default="/api", help="a route that requires a token")
parser.add_argument("--token", default="", help="a valid token for the auth route, if any")
parser.add_argument("--max-body", type=int, default=65536, help="authgate's max_body_bytes")
parser.add_argument("--max-head", type=int, default=32768, help="authgate's max_header_bytes")
parser.add_argument("--print-plan", action="store_true",
                    help="print the connections the seed draws (case, variant, bytes, delay, ending) and exit")
parser.add_argument("--stop-after-refused", type=int, default=25,
                    help="stop once this many connects in a row were refused (the gateway is gone)")
arguments = parser.parse_args()
if arguments.host not in LOOPBACK:
    parser.error("--host must be 127.0.0.1 or ::1")

OPEN = arguments.open_prefix.encode()
AUTH = arguments.auth_prefix.encode()


def valid_get(path):
    return b"GET " + path + b" HTTP/1.1\r\nHost: a\r\nUser-Agent: hostile\r\n\r\n"


def valid_post(path, body):
    return (b"POST " + path + b" HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body)


def valid_chunked(path, body, pieces):
    out = b"PUT " + path + b" HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    step = max(1, len(body) // max(1, pieces))
    for start in range(0, len(body), step):
        piece = body[start:start + step]
        out += b"%x\r\n%s\r\n" % (len(piece), piece)
    return out + b"0\r\n\r\n"


def text_body(rng, size):
    return bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(size))


class Plan:
    """One connection's script: what it sends, how it ends; drawn from the seed."""

    def __init__(self, index, case):
        self.index = index
        self.case = case
        self.variant = ""
        self.send = [b""]  # pieces, sent one after another
        self.read_bytes = 0  # vanish_answer: how much of the answer to read before leaving
        self.delay = 0.0  # how long to keep the connection (reading) before closing it
        self.ending = "close"  # close | reset | half_close


class Planner:
    """Draws the connections one by one from the seed; the sweeps (every offset of a request) advance in order."""

    def __init__(self, seed, mode):
        self.rng = random.Random(seed)
        table = SHORT_CASES if mode == "short" else ALL_CASES
        if arguments.cases:
            wanted = arguments.cases.split(",")
            unknown = set(wanted) - {name for name, _ in ALL_CASES}
            if unknown:
                parser.error("unknown cases: " + ", ".join(sorted(unknown)))
            table = [(name, weight) for name, weight in ALL_CASES if name in wanted]
        self.names = [name for name, _ in table]
        self.weights = [weight for _, weight in table]
        self.index = 0
        self.vanish_sweep = 0
        templates = [
            valid_get(OPEN + b"/vanish?x=1"),
            valid_post(OPEN + b"/vanish", b"0123456789" * 7),
            valid_chunked(OPEN + b"/vanish", b"abcdefghij" * 5, 4),
            valid_get(AUTH + b"/vanish")[:-2] + b"Authorization: Bearer abc.def.ghi\r\n\r\n",
        ]
        # Every byte offset of every template, 0 (connect, send nothing) to the whole request.
        self.vanish_points = [(template, offset) for template in templates for offset in range(len(template) + 1)]

    def next(self):
        rng = self.rng
        case = rng.choices(self.names, self.weights)[0]
        plan = Plan(self.index, case)
        self.index += 1
        plan.delay = rng.uniform(arguments.min_delay, arguments.max_delay)
        plan.ending = rng.choice(["close", "close", "reset"])
        getattr(self, "plan_" + case)(plan, rng)
        return plan

    def plan_short(self, plan, rng):
        plan.variant = rng.choice(["open", "local", "keepalive_two", "http10"])
        if plan.variant == "open":
            plan.send = [valid_get(OPEN + b"/short/%d" % plan.index)]
        elif plan.variant == "local":
            plan.send = [valid_get(b"/not-routed")]
        elif plan.variant == "keepalive_two":
            plan.send = [valid_get(OPEN + b"/one") + valid_get(OPEN + b"/two")]
        else:
            plan.send = [b"GET " + OPEN + b"/old HTTP/1.0\r\n\r\n"]

    def plan_connect_close(self, plan, rng):
        plan.variant = rng.choice(["now", "after_delay"])
        plan.send = [b""]
        if plan.variant == "now":
            plan.delay = 0

    def plan_auth(self, plan, rng):
        choices = ["none", "garbage", "malformed_header", "unknown_key"]
        if arguments.token:
            choices.append("valid")
        plan.variant = rng.choice(choices)
        authorization = {
            "none": b"",
            "garbage": b"Authorization: Bearer " + text_body(rng, rng.randrange(1, 200)) + b"\r\n",
            "malformed_header": b"Authorization: Basic dXNlcjpwYXNz\r\n",
            "unknown_key": b"Authorization: Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6Im5vIn0.e30.c2ln\r\n",
            "valid": b"Authorization: Bearer " + arguments.token.encode() + b"\r\n",
        }[plan.variant]
        plan.send = [b"GET " + AUTH + b"/private HTTP/1.1\r\nHost: a\r\n" + authorization + b"\r\n"]

    def plan_truncated_body(self, plan, rng):
        declared = rng.randrange(10, 50000)
        sent = rng.randrange(0, declared)
        plan.variant = rng.choice(["open", "auth"])
        prefix = OPEN if plan.variant == "open" else AUTH
        head = b"POST " + prefix + b"/truncated HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % declared
        plan.send = [head + b"t" * sent]

    def plan_oversized_body(self, plan, rng):
        limit = arguments.max_body
        plan.variant = rng.choice(["declared", "chunked", "expect_continue"])
        if plan.variant == "declared":
            declared = limit + 1 + rng.randrange(1 << 20)
            head = b"POST " + OPEN + b"/oversized HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % declared
            plan.send = [head, b"x" * min(limit + 1, 65536)]
        elif plan.variant == "expect_continue":
            head = (b"POST " + OPEN + b"/oversized HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                    b"Content-Length: %d\r\n\r\n" % (limit * 4))
            plan.send = [head]
        else:
            body = b""
            piece = b"y" * 8192
            while len(body) < limit + 8192 * (2 + rng.randrange(4)):
                body += b"2000\r\n" + piece + b"\r\n"
            head = b"PUT " + OPEN + b"/oversized HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            plan.send = [head, body]

    def plan_bad_chunk(self, plan, rng):
        head = b"PUT " + OPEN + b"/chunk HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        variants = {
            "bad_hex": b"zz\r\nhello\r\n0\r\n\r\n",
            "missing_crlf": b"5\r\nhelloXX5\r\nworld\r\n0\r\n\r\n",
            "huge_size": b"ffffffffffffffffffffffff\r\n" + b"a" * 100,
            "size_overflow": b"10000000000000000\r\nabc\r\n",
            "negative": b"-5\r\nhello\r\n0\r\n\r\n",
            "bare_lf": b"5\nhello\n0\n\n",
            "space_in_size": b"5 5\r\nhello\r\n0\r\n\r\n",
            "nul_extension": b"5;a=\x00b\r\nhello\r\n0\r\n\r\n",
            "long_extension": b"5;" + b"e" * 5000 + b"\r\nhello\r\n0\r\n\r\n",
            "trailer_garbage": b"5\r\nhello\r\n0\r\nnot a trailer\r\n\x01\x02\r\n\r\n",
            "huge_trailer": b"0\r\nX-T: " + b"t" * 20000 + b"\r\n\r\n",
            "truncated_size": b"5\r\nhello\r\n3",
            "no_last_chunk": b"5\r\nhello\r\n",
        }
        plan.variant = rng.choice(sorted(variants))
        plan.send = [head + variants[plan.variant]]

    def plan_bad_request_line(self, plan, rng):
        valid = valid_get(OPEN + b"/line")
        variants = {
            "method_only": b"GET\r\n\r\n",
            "double_space": b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
            "extra_token": b"GET / HTTP/1.1 extra\r\nHost: a\r\n\r\n",
            "bad_version": b"GET / HTTP/9.9\r\nHost: a\r\n\r\n",
            "lower_version": b"GET / http/1.1\r\nHost: a\r\n\r\n",
            "binary": bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))),
            "nul_in_path": b"GET /a\x00b HTTP/1.1\r\nHost: a\r\n\r\n",
            "long_target": b"GET /" + b"p" * (arguments.max_head + 10) + b" HTTP/1.1\r\nHost: a\r\n\r\n",
            "long_header": b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"h" * (arguments.max_head + 10) + b"\r\n\r\n",
            "many_headers": b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X-H: v\r\n" * 300 + b"\r\n",
            "no_colon": b"GET / HTTP/1.1\r\nHost: a\r\nNoColonHere\r\n\r\n",
            "space_before_colon": b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
            "obs_fold": b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n",
            "cr_in_value": b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n",
            "missing_host": b"GET / HTTP/1.1\r\n\r\n",
            "two_hosts": b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "leading_blank_lines": b"\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            "absolute_garbage": b"GET http://[::1 HTTP/1.1\r\nHost: a\r\n\r\n",
            "tab_method": b"G\tET / HTTP/1.1\r\nHost: a\r\n\r\n",
            "endless_line": b"GET /" + b"q" * 2000,
            "flipped_bytes": None,
        }
        plan.variant = rng.choice(sorted(variants))
        if plan.variant == "flipped_bytes":
            mutated = bytearray(valid)
            for _ in range(rng.randrange(1, 6)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            plan.send = [bytes(mutated)]
        else:
            plan.send = [variants[plan.variant]]

    def plan_smuggling(self, plan, rng):
        smuggled = b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
        path = OPEN + b"/smuggle"
        variants = {
            "cl_te": b"POST %s HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"0\r\n\r\n" % path + smuggled,
            "te_cl": b"POST %s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n"
                     b"0\r\n\r\n" % path + smuggled,
            "two_lengths": b"POST %s HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc" % path,
            "length_list": b"POST %s HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc" % path,
            "plus_length": b"POST %s HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc" % path,
            "hex_length": b"POST %s HTTP/1.1\r\nHost: a\r\nContent-Length: 0x3\r\n\r\nabc" % path,
            "te_identity": b"POST %s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n"
                           b"0\r\n\r\n" % path,
            "te_xchunked": b"POST %s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" % path,
            "te_space": b"POST %s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n" % path,
            "te_http10": b"POST %s HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" % path + smuggled,
            "te_twice": b"POST %s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" % path,
        }
        plan.variant = rng.choice(sorted(variants))
        plan.send = [variants[plan.variant]]

    def plan_pipelined_garbage(self, plan, rng):
        plan.variant = rng.choice(["junk", "binary", "half_request", "many"])
        first = valid_get(OPEN + b"/pipelined")
        tail = {
            "junk": b"THIS IS NOT HTTP\r\n\r\n",
            "binary": bytes(rng.randrange(256) for _ in range(rng.randrange(1, 2000))),
            "half_request": b"GET " + OPEN + b"/second HTTP/1.1\r\nHo",
            "many": valid_get(OPEN + b"/p2") * rng.randrange(2, 20) + b"\x00garbage",
        }[plan.variant]
        plan.send = [first + tail]

    def plan_reset(self, plan, rng):
        plan.variant = rng.choice(["after_request", "before_answer", "mid_head", "after_body_head", "inside_body"])
        plan.ending = "reset"
        if plan.variant == "after_request":
            plan.send = [valid_get(OPEN + b"/reset")]
        elif plan.variant == "before_answer":
            plan.send = [valid_get(OPEN + b"/reset")]
            plan.delay = 0
        elif plan.variant == "mid_head":
            plan.send = [b"GET " + OPEN + b"/reset HTTP/1.1\r\nHost: a\r\nX-Par"]
        elif plan.variant == "after_body_head":
            plan.send = [b"POST " + OPEN + b"/reset HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\nabc"]
        else:
            # Part of a body and the reset at once: the gateway sees the bytes and the hangup together.
            plan.send = [b"POST " + OPEN + b"/reset HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\nabc"]
            plan.delay = 0

    def plan_half_close(self, plan, rng):
        plan.variant = rng.choice(["get", "post", "partial_head", "chunked_partial"])
        plan.ending = "half_close"
        plan.send = [{
            "get": valid_get(OPEN + b"/half"),
            "post": valid_post(OPEN + b"/half", b"hello"),
            "partial_head": b"GET " + OPEN + b"/half HTTP/1.1\r\nHost: a\r\n",
            "chunked_partial": b"PUT " + OPEN + b"/half HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                               b"5\r\nhe",
        }[plan.variant]]

    def plan_vanish_request(self, plan, rng):
        template, offset = self.vanish_points[self.vanish_sweep % len(self.vanish_points)]
        self.vanish_sweep += 1
        plan.variant = "offset"
        plan.send = [template[:offset]]
        plan.delay = rng.choice([0, 0, rng.uniform(0, arguments.max_delay)])

    def plan_vanish_answer(self, plan, rng):
        plan.variant = rng.choice(["big", "trickle", "big_http10"])
        if plan.variant == "trickle":
            plan.send = [valid_get(OPEN + b"/trickle/%d" % rng.randrange(5, 60))]
        elif plan.variant == "big":
            plan.send = [valid_get(OPEN + b"/big/%d" % rng.randrange(100000, 4000000))]
        else:
            plan.send = [b"GET " + OPEN + b"/big/%d HTTP/1.0\r\n\r\n" % rng.randrange(100000, 2000000)]
        plan.read_bytes = rng.randrange(0, 300000)
        plan.ending = rng.choice(["reset", "close"])
        plan.delay = rng.uniform(0, arguments.max_delay)


class Stats:
    def __init__(self):
        self.cases = Counter()
        self.connections = 0
        self.refused = 0
        self.refused_in_a_row = 0
        self.timeouts = Counter()  # "case/variant" -> connections that hit --op-timeout or their deadline
        self.peer_resets = 0
        self.stopped = ""


async def send_all(loop, sock, data):
    await asyncio.wait_for(loop.sock_sendall(sock, data), arguments.op_timeout)


async def read_for(loop, sock, seconds, limit=None):
    """Reads what arrives for `seconds` (or until EOF, or `limit` bytes): the client is still there.
    Returns whether it saw the end of the stream."""
    deadline = time.monotonic() + seconds
    got = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or (limit is not None and got >= limit):
            return False
        try:
            data = await asyncio.wait_for(loop.sock_recv(sock, 65536), remaining)
        except asyncio.TimeoutError:
            return False
        if not data:
            return True
        got += len(data)


def reset(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


async def one_connection(plan, stats):
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in arguments.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    stats.cases[plan.case] += 1
    stats.connections += 1
    try:
        await run_plan(loop, sock, plan, stats)
    finally:
        # Also when the connection's hard deadline cancelled it: no descriptor outlives its connection.
        if sock.fileno() != -1:
            sock.close()


async def run_plan(loop, sock, plan, stats):
    try:
        try:
            await asyncio.wait_for(loop.sock_connect(sock, (arguments.host, arguments.port)), arguments.op_timeout)
        except ConnectionRefusedError:
            stats.refused += 1
            stats.refused_in_a_row += 1
            return
        stats.refused_in_a_row = 0
        for piece in plan.send:
            if piece:
                await send_all(loop, sock, piece)
        if plan.ending == "half_close":
            sock.shutdown(socket.SHUT_WR)
            # Bounded: at most two receive timeouts' worth of waiting for the answer and the close.
            if not await read_for(loop, sock, 2 * arguments.op_timeout):
                # Neither answered nor closed: worth a look, not a verdict.
                stats.timeouts[plan.case + "/" + plan.variant] += 1
            sock.close()
            return
        if plan.read_bytes:
            await read_for(loop, sock, arguments.op_timeout, limit=plan.read_bytes)
        if plan.delay > 0:
            await read_for(loop, sock, plan.delay)
        if plan.ending == "reset":
            reset(sock)
        else:
            sock.close()
    except asyncio.TimeoutError:
        stats.timeouts[plan.case + "/" + plan.variant] += 1
        reset(sock)
    except (ConnectionResetError, BrokenPipeError):
        stats.peer_resets += 1
        sock.close()
    except OSError:
        sock.close()


async def main():
    stats = Stats()
    planner = Planner(arguments.seed, arguments.mode)
    started = time.monotonic()
    stop_at = started + arguments.seconds
    # A connection's own bound: its operations' timeouts plus its longest deliberate wait.
    hard_limit = 4 * arguments.op_timeout + arguments.max_delay + 1

    def may_start():
        if stats.refused_in_a_row >= arguments.stop_after_refused:
            stats.stopped = "refused"
            return False
        if time.monotonic() >= stop_at:
            stats.stopped = stats.stopped or "seconds"
            return False
        if planner.index >= arguments.connections:
            stats.stopped = stats.stopped or "connections"
            return False
        return True

    async def worker(phase_end):
        while planner.index < phase_end and may_start():
            plan = planner.next()
            try:
                await asyncio.wait_for(one_connection(plan, stats), hard_limit)
            except asyncio.TimeoutError:
                stats.timeouts[plan.case + "/" + plan.variant] += 1

    phases = 0
    storm = False
    while may_start():
        concurrency = arguments.storm if storm else arguments.calm
        length = arguments.storm_connections if storm else arguments.calm_connections
        phase_end = min(arguments.connections, planner.index + length)
        await asyncio.gather(*(worker(phase_end) for _ in range(concurrency)))
        phases += 1
        storm = not storm

    cases = " ".join("%s=%d" % (name, stats.cases[name]) for name in sorted(stats.cases))
    timeouts = " ".join("%s=%d" % (name, stats.timeouts[name]) for name in sorted(stats.timeouts)) or "none"
    print("hostile_clients: connections=%d refused=%d phases=%d seconds=%.1f stopped=%s peer_resets=%d "
          "timeouts: %s cases: %s" % (stats.connections, stats.refused, phases, time.monotonic() - started,
                                      stats.stopped, stats.peer_resets, timeouts, cases), flush=True)


if arguments.print_plan:
    planner = Planner(arguments.seed, arguments.mode)
    for _ in range(arguments.connections):
        plan = planner.next()
        print(plan.index, plan.case, plan.variant, sum(len(piece) for piece in plan.send), "%.3f" % plan.delay,
              plan.ending, plan.read_bytes)
    sys.exit(0)
asyncio.run(main())
sys.exit(0)
