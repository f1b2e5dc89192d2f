#!/usr/bin/env python3
"""A small HTTP server on loopback for authgate's tests: serves a JWKS file that the test may rewrite,
counts JWKS fetches, and answers slow, large, malformed and echo requests."""
import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--jwks-file", default="")
arguments = parser.parse_args()

jwks_requests = 0
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body, content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        global jwks_requests
        if self.path.endswith("/jwks.json"):
            with lock:
                jwks_requests += 1
                # The count also goes to a file beside the JWKS, so tests can read it without an HTTP client.
                with open(arguments.jwks_file + ".count", "w") as counter:
                    counter.write(str(jwks_requests))
            with open(arguments.jwks_file, "rb") as handle:
                body = handle.read()
            if body.startswith(b"SLOW"):
                time.sleep(5)
                body = body[4:]
            self.answer(200, body)
        elif self.path == "/stats":
            with lock:
                count = jwks_requests
            self.answer(200, json.dumps({"jwks_requests": count}).encode())
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
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        reply = json.dumps({
            "body": body.decode("utf-8", "replace"),
            "content_type": self.headers.get("Content-Type"),
            "target": self.headers.get("X-Amz-Target"),
        }).encode()
        self.answer(200, reply)

    def do_PUT(self):
        self.answer(200, json.dumps({"method": "PUT", "ttl": self.headers.get("X-Test-TTL")}).encode())


server = ThreadingHTTPServer(("127.0.0.1", arguments.port), Handler)
server.daemon_threads = True
print("ready", flush=True)
server.serve_forever()
