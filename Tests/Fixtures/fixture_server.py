#!/usr/bin/env python3
"""A small HTTP server on loopback for authgate's tests and demo: serves a JWKS file that the test may
rewrite, counts JWKS fetches, answers slow, large, trickled, malformed and echo requests, and under /upstream
plays an upstream service that answers with what it received (method, path, headers, body digest), counted
in /stats, and with the header fields its query names (?answer_header=Name:Value, repeatable).
It also speaks the two AWS credential protocols: the ECS container endpoint (/ecs/credentials) and EC2
instance metadata with IMDSv2 session tokens (/latest/...)."""
import argparse
import hashlib
import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--host", default="127.0.0.1", help="the loopback address to listen on")
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--jwks-file", default="")
parser.add_argument("--unix", default="", help="also serve on this unix socket")
parser.add_argument("--tls-cert", default="", help="serve HTTPS with this certificate (and --tls-key)")
parser.add_argument("--tls-key", default="")
parser.add_argument("--idle-timeout", type=float, default=0,
                    help="close a connection silent for this many seconds (0: never)")
arguments = parser.parse_args()

jwks_requests = 0
upstream_requests = 0
lock = threading.Lock()
credential_requests = {"ecs": 0, "imds_token": 0, "imds_role": 0, "imds_credentials": 0}
imds_tokens = set()
IMDS_ROLE = "authgate-role"
ECS_AUTHORIZATION = "ecs-authorization-token"


def credential_document(kind, expires_in):
    with lock:
        credential_requests[kind] += 1
        number = credential_requests[kind]
    expiration = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + expires_in))
    return json.dumps({
        "Code": "Success",
        "AccessKeyId": "ASIA%s%d" % (kind.upper().replace("_", ""), number),
        "SecretAccessKey": "secret-%s-%d" % (kind, number),
        "Token": "session-%s-%d" % (kind, number),
        "Expiration": expiration,
    }).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def handle_one_request(self):
        # --idle-timeout bounds only the wait for the next request line of a kept-alive connection, never a
        # request being read or answered: an upstream that gave up on a half-sent body would hide a client
        # the gateway lost track of.
        if arguments.idle_timeout:
            self.connection.settimeout(arguments.idle_timeout)
        super().handle_one_request()

    def parse_request(self):
        self.connection.settimeout(None)
        return super().parse_request()

    def log_message(self, *args):
        pass

    def answer(self, status, body, content_type="application/json", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def echo(self):
        global upstream_requests
        with lock:
            upstream_requests += 1
        body = b""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        reply = json.dumps({
            "method": self.command,
            "path": self.path,
            "headers": [[name, value] for name, value in self.headers.items()],
            "body_length": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "server": arguments.host,
        }).encode()
        if "/upstream/chunked" in self.path:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(reply), 7):
                piece = reply[start:start + 7]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
            return
        if "/upstream/slow" in self.path:
            time.sleep(3)
        if "/upstream/trickle/" in self.path:
            # A slow streamed answer: COUNT chunks of 1 KiB, 20 ms apart.
            count = int(self.path.rsplit("/", 1)[1])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(count):
                self.wfile.write(b"400\r\n" + b"t" * 1024 + b"\r\n")
                self.wfile.flush()
                time.sleep(0.02)
            self.wfile.write(b"0\r\n\r\n")
            return
        if "/upstream/big" in self.path:
            size = int(self.path.rsplit("/", 1)[1])
            block = hashlib.sha256(b"authgate").digest() * 2048
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.send_header("Connection", "keep-alive, X-Hop")
            self.send_header("X-Hop", "must not reach the client")
            self.end_headers()
            sent = 0
            while sent < size:
                piece = block[: min(len(block), size - sent)]
                self.wfile.write(piece)
                sent += len(piece)
            return
        query = urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query)
        extra = [tuple(part.strip() for part in value.split(":", 1))
                 for name, value in query if name == "answer_header" and ":" in value]
        self.answer(200, reply, headers=extra)

    def do_GET(self):
        global jwks_requests
        if self.path.startswith("/upstream"):
            self.echo()
        elif self.path.endswith("/jwks.json"):
            with lock:
                jwks_requests += 1
                # The count also goes to a file beside the JWKS, so tests can read it without an HTTP client.
                with open(arguments.jwks_file + ".count", "w") as counter:
                    counter.write(str(jwks_requests))
            with open(arguments.jwks_file, "rb") as handle:
                body = handle.read()
            if body.startswith(b"SLOW:"):
                # "SLOW:SECONDS\n" before the document: it is answered after that many seconds.
                seconds, _, body = body[5:].partition(b"\n")
                time.sleep(float(seconds))
            elif body.startswith(b"SLOW"):
                time.sleep(5)
                body = body[4:]
            self.answer(200, body)
        elif self.path == "/stats":
            with lock:
                stats = dict(credential_requests, jwks_requests=jwks_requests, upstream_requests=upstream_requests)
            self.answer(200, json.dumps(stats).encode())
        elif self.path.startswith("/ecs/credentials"):
            # ?expires_in=SECONDS (default an hour); the Authorization header must carry the agreed token.
            if self.headers.get("Authorization") != ECS_AUTHORIZATION:
                self.answer(401, b'{"message":"unauthorized"}')
                return
            expires_in = int(self.path.split("expires_in=")[1]) if "expires_in=" in self.path else 3600
            self.answer(200, credential_document("ecs", expires_in))
        elif self.path.startswith("/latest/meta-data/iam/security-credentials/"):
            with lock:
                known = self.headers.get("X-aws-ec2-metadata-token") in imds_tokens
            if not known:
                self.answer(401, b"")
                return
            role = self.path[len("/latest/meta-data/iam/security-credentials/"):]
            if role == "":
                with lock:
                    credential_requests["imds_role"] += 1
                self.answer(200, IMDS_ROLE.encode(), "text/plain")
            elif role == IMDS_ROLE:
                self.answer(200, credential_document("imds_credentials", 21600), "text/plain")
            else:
                self.answer(404, b"")
        elif self.path == "/big":
            self.answer(200, b"a" * (2 * 1024 * 1024))
        elif self.path == "/slow":
            time.sleep(5)
            self.answer(200, b"{}")
        elif self.path.startswith("/status/"):
            self.answer(int(self.path.rsplit("/", 1)[1]), b'{"status":"x"}')
        else:
            self.answer(404, b"{}")

    def do_POST(self):
        if self.path.startswith("/upstream"):
            self.echo()
            return
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        reply = json.dumps({
            "body": body.decode("utf-8", "replace"),
            "content_type": self.headers.get("Content-Type"),
            "target": self.headers.get("X-Amz-Target"),
        }).encode()
        self.answer(200, reply)

    def do_HEAD(self):
        self.echo()

    def do_DELETE(self):
        self.echo()

    def do_OPTIONS(self):
        self.echo()

    def do_PUT(self):
        if self.path.startswith("/upstream"):
            self.echo()
            return
        if self.path == "/latest/api/token":
            # IMDSv2: a session token for a TTL of 1 to 21600 seconds, asked for with PUT.
            ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
            if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                self.answer(400, b"")
                return
            with lock:
                credential_requests["imds_token"] += 1
                token = "imds-token-%d" % credential_requests["imds_token"]
                imds_tokens.add(token)
            self.answer(200, token.encode(), "text/plain")
            return
        self.answer(200, json.dumps({"method": "PUT", "ttl": self.headers.get("X-Test-TTL")}).encode())


if arguments.unix:
    import os
    import socketserver

    class UnixHandler(Handler):
        def address_string(self):
            return "unix"

    class UnixServer(socketserver.ThreadingUnixStreamServer):
        daemon_threads = True
        request_queue_size = 1024

    if os.path.exists(arguments.unix):
        os.unlink(arguments.unix)
    unix_server = UnixServer(arguments.unix, UnixHandler)
    threading.Thread(target=unix_server.serve_forever, daemon=True).start()

class Server(ThreadingHTTPServer):
    # socketserver's listen backlog is 5: a storm of proxied requests would overflow it, and every dropped
    # connection then waits for SYN retransmits (1 s, 3 s, 7 s ...) before the fixture even sees it.
    request_queue_size = 1024
    daemon_threads = True


server = Server((arguments.host, arguments.port), Handler)
if arguments.tls_cert:
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(arguments.tls_cert, arguments.tls_key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
print("ready", flush=True)
server.serve_forever()
