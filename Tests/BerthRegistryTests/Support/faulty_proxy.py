#!/usr/bin/env python3
"""A proxy in front of a test registry that damages blob downloads, for berth's tests.

Usage: faulty_proxy.py MODE UPSTREAM_PORT LOG
MODE corrupt: every blob body larger than 1 KiB has one byte flipped (length kept).
MODE cut: the first GET of each such blob sends the headers and half the body, then
closes the connection; later requests (resumptions with Range, or retries) pass.
Listens on 127.0.0.1 (a free port, printed on the first line of stdout) and appends one
line per request to LOG: "METHOD PATH RANGE STATUS ACTION".
"""
import http.client, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

mode, upstream, log_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cut_done = set()
lock = threading.Lock()


def log(line):
    with lock:
        with open(log_path, "a") as f:
            f.write(line + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def forward(self, method):
        conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        headers["Host"] = "127.0.0.1:%d" % upstream
        conn.request(method, self.path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        action = "pass"
        is_blob = "/blobs/sha256:" in self.path and method == "GET" and resp.status in (200, 206) and len(body) > 1024
        if is_blob and mode == "corrupt":
            body = bytearray(body)
            body[len(body) // 2] ^= 0xFF
            body = bytes(body)
            action = "corrupted"
        cut = False
        if is_blob and mode == "cut":
            with lock:
                if self.path not in cut_done:
                    cut_done.add(self.path)
                    cut = True
                    action = "cut"
        log("%s %s %s %d %s" % (method, self.path, self.headers.get("Range", "-"), resp.status, action))
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() in ("content-length", "connection", "transfer-encoding"):
                continue
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        if cut:
            self.send_header("Connection", "close")
        self.end_headers()
        if method == "HEAD":
            return
        if cut:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def do_GET(self):
        self.forward("GET")

    def do_HEAD(self):
        self.forward("HEAD")


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
