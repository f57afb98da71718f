#!/usr/bin/python3
"""A fake Kubo RPC API that misbehaves on request, for tests/ipfs/kubo_faults.sh.

Serves block/put (multipart, one block), block/get, block/stat, pin/add, pin/rm, version and
refs/local over an in-memory block store keyed by sha2-256 multihash, HTTP/1.1 keep-alive.
Faults are set with POST /fault?name=VALUE (answers the request counters as JSON):

  corrupt_get=1     block/get answers the block with one bit flipped
  wrong_key=1       block/put answers the Key of other bytes
  fail=N            the next N RPC calls answer 503
  drop_idle=1       close the connection after each answer, although it says keep-alive (what a
                    node that times out idle connections does between two requests)
  big_get=N         block/get answers N bytes (more than any block)
  bad_pins=1        pin/add answers a Pins list without the root
  hang=1            RPC calls are read but never answered
Usage: fake_kubo.py PORT
"""
import base64
import hashlib
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

blocks = {}   # multihash bytes -> data
pins = set()  # CID strings
faults = {}
counts = {"rpc": 0, "put": 0, "get": 0, "503": 0, "connections": 0}
lock = threading.Lock()


def cid_v1(codec, mh):
    return "b" + base64.b32encode(bytes([1, codec]) + mh).decode().lower().rstrip("=")


def mh_of(cid):
    if not cid.startswith("b"):
        raise ValueError("only base32 CIDv1 here: " + cid)
    s = cid[1:].upper()
    raw = base64.b32decode(s + "=" * (-len(s) % 8))
    if raw[0] != 1:
        raise ValueError("not CIDv1")
    return raw[2:]  # version and codec are one byte each for raw and dag-pb


def sha_mh(data):
    return bytes([0x12, 0x20]) + hashlib.sha256(data).digest()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        with lock:
            counts["connections"] += 1

    def answer(self, status, body, ctype="application/json"):
        if isinstance(body, (dict, list)):
            body = (json.dumps(body) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if faults.get("drop_idle"):
            self.close_connection = True

    def error(self, msg, status=500):
        self.answer(status, {"Message": msg, "Code": 0, "Type": "error"})

    def do_POST(self):
        u = urlparse(self.path)
        q = parse_qs(u.query)
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if u.path == "/fault":
            with lock:
                for k, v in q.items():
                    faults[k] = int(v[0])
                snapshot = dict(counts)
            return self.answer(200, snapshot)
        if not u.path.startswith("/api/v0/"):
            return self.error("not found", 404)
        cmd = u.path[len("/api/v0/"):]
        with lock:
            counts["rpc"] += 1
            hang = faults.get("hang")
            if faults.get("fail", 0) > 0:
                faults["fail"] -= 1
                counts["503"] += 1
                fail = True
            else:
                fail = False
        if hang:
            time.sleep(3600)
        if fail:
            return self.error("overloaded", 503)
        try:
            return self.rpc(cmd, q, body)
        except (ValueError, KeyError) as e:
            return self.error(str(e))

    def rpc(self, cmd, q, body):
        arg = (q.get("arg") or [""])[0]
        if cmd == "version":
            return self.answer(200, {"Version": "fake"})
        if cmd == "block/put":
            ctype = self.headers.get("Content-Type", "")
            boundary = ctype.split("boundary=", 1)[1].encode()
            part = body.split(b"--" + boundary)[1]
            data = part.split(b"\r\n\r\n", 1)[1][:-2]
            codec = 0x70 if q.get("cid-codec", ["raw"])[0] == "dag-pb" else 0x55
            mh = sha_mh(data)
            with lock:
                blocks[mh] = data
                counts["put"] += 1
            key = cid_v1(codec, sha_mh(data + b"x") if faults.get("wrong_key") else mh)
            return self.answer(200, {"Key": key, "Size": len(data)})
        if cmd == "block/get":
            with lock:
                counts["get"] += 1
                data = blocks.get(mh_of(arg))
            if data is None:
                return self.error("block was not found locally (offline): ipld: could not find " + arg)
            if faults.get("corrupt_get"):
                data = bytes([data[0] ^ 1]) + data[1:]
            if faults.get("big_get"):
                data = b"x" * faults["big_get"]
            return self.answer(200, data, "text/plain")
        if cmd == "block/stat":
            data = blocks.get(mh_of(arg))
            if data is None:
                return self.error("block was not found locally (offline): ipld: could not find " + arg)
            return self.answer(200, {"Key": arg, "Size": len(data)})
        if cmd == "pin/add":
            with lock:
                pins.add(arg)
            return self.answer(200, {"Pins": ["bafkqaaa"] if faults.get("bad_pins") else [arg]})
        if cmd == "pin/rm":
            with lock:
                if arg not in pins:
                    return self.error(arg + " is not pinned")
                pins.discard(arg)
            return self.answer(200, {"Pins": [arg]})
        if cmd == "pin/ls":
            return self.answer(200, {"Keys": {p: {"Type": "recursive"} for p in sorted(pins)}})
        if cmd == "refs/local":
            out = "".join(json.dumps({"Ref": cid_v1(0x55, mh), "Err": ""}) + "\n" for mh in blocks)
            return self.answer(200, out.encode())
        return self.error("unknown command " + cmd, 404)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
