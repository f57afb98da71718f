#!/usr/bin/python3
"""Security tests for the s3xfs S3 listener (run by tests/s3/security.sh, which starts the server).

Every request here is built by hand: a small SigV4 signer (hashlib/hmac) and raw sockets, so the
tests can send exactly the malformed, tampered, slow or abandoned requests an attacker would.
Each case asserts the exact HTTP status and S3 error Code, and that the store is unchanged
afterwards (the bucket listing, and the bytes of the objects it touches).

Environment: S3_HOST (127.0.0.1:PORT), S3_ACCESS_KEY, S3_SECRET_KEY, S3_PID (for RSS checks).
Prints one line per case and a closing "N passed, N failed" line; exit 1 when a case failed.
"""
import base64
import hashlib
import hmac
import os
import resource
import socket
import struct
import sys
import threading
import time
import traceback
import urllib.parse
import xml.etree.ElementTree as ET
import zlib

HOST = os.environ["S3_HOST"]
ADDR = (HOST.rsplit(":", 1)[0], int(HOST.rsplit(":", 1)[1]))
AK = os.environ["S3_ACCESS_KEY"]
SK = os.environ["S3_SECRET_KEY"]
PID = int(os.environ.get("S3_PID", "0") or 0)
REGION = "us-east-1"
BUCKET = "sec"
EMPTY_SHA = hashlib.sha256(b"").hexdigest()
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


# ---- SigV4 -------------------------------------------------------------------------------------

_UNRESERVED = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def uri_encode(s, encode_slash=True):
    if isinstance(s, str):
        s = s.encode("utf-8")
    out = []
    for b in s:
        if b in _UNRESERVED or (b == ord("/") and not encode_slash):
            out.append(chr(b))
        else:
            out.append("%%%02X" % b)
    return "".join(out)


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def amz_date(offset_s=0):
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() + offset_s))


def signing_key(secret, date):
    k = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    for part in (REGION, "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def hmac_hex(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def object_path(bucket, key=None):
    if not bucket:
        return "/"
    return "/" + bucket + ("" if key is None else "/" + uri_encode(key, encode_slash=False))


def raw_query(params):
    parts = []
    for name, value in params:
        parts.append(uri_encode(name) + ("" if value is None else "=" + uri_encode(value)))
    return "&".join(parts)


def canonical_query(params, skip=()):
    enc = sorted((uri_encode(n), uri_encode(v or "")) for n, v in params if n not in skip)
    return "&".join("%s=%s" % nv for nv in enc)


class Signed:
    """A signed request: target + header list; `signature` and `scope` for aws-chunked bodies."""

    def __init__(self, method, target, headers, signature, date, scope, key):
        self.method, self.target, self.headers = method, target, headers
        self.signature, self.date, self.scope, self.key = signature, date, scope, key


def sign(method, path, params=(), headers=(), payload_hash=EMPTY_SHA, ak=None, sk=None,
         date=None, signed_names=None, tamper_signature=False):
    ak = AK if ak is None else ak
    sk = SK if sk is None else sk
    date = date or amz_date()
    hdrs = [("host", HOST), ("x-amz-date", date), ("x-amz-content-sha256", payload_hash)]
    hdrs += [(n.lower(), v) for n, v in headers]
    if signed_names is None:
        signed_names = sorted({n for n, _ in hdrs if n not in ("connection", "expect")})
    canon_headers = ""
    for name in signed_names:
        vals = [" ".join(v.strip().split(" ")) for n, v in hdrs if n == name]
        canon_headers += name + ":" + ",".join(vals) + "\n"
    canonical = "\n".join([method, path, canonical_query(params), canon_headers,
                           ";".join(signed_names), payload_hash])
    scope = "%s/%s/s3/aws4_request" % (date[:8], REGION)
    sts = "AWS4-HMAC-SHA256\n%s\n%s\n%s" % (date, scope, sha256_hex(canonical.encode()))
    key = signing_key(sk, date[:8])
    sig = hmac_hex(key, sts)
    sent_sig = flip_hex(sig) if tamper_signature else sig
    hdrs.append(("authorization", "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s"
                 % (ak, scope, ";".join(signed_names), sent_sig)))
    q = raw_query(params)
    return Signed(method, path + ("?" + q if q else ""), hdrs, sig, date, scope, key)


def presign(method, path, expires=300, date=None, params=(), signed_names=("host",), sk=None,
            override_expires=None, tamper_signature=False):
    date = date or amz_date()
    scope = "%s/%s/s3/aws4_request" % (date[:8], REGION)
    q = [("X-Amz-Algorithm", "AWS4-HMAC-SHA256"), ("X-Amz-Credential", AK + "/" + scope),
         ("X-Amz-Date", date), ("X-Amz-Expires", str(expires)),
         ("X-Amz-SignedHeaders", ";".join(signed_names))] + list(params)
    canon_headers = "".join("%s:%s\n" % (n, HOST) for n in signed_names if n == "host")
    canonical = "\n".join([method, path, canonical_query(q), canon_headers, ";".join(signed_names),
                           "UNSIGNED-PAYLOAD"])
    sts = "AWS4-HMAC-SHA256\n%s\n%s\n%s" % (date, scope, sha256_hex(canonical.encode()))
    sig = hmac_hex(signing_key(sk or SK, date[:8]), sts)
    if tamper_signature:
        sig = flip_hex(sig)
    if override_expires is not None:
        q = [(n, str(override_expires) if n == "X-Amz-Expires" else v) for n, v in q]
    q.append(("X-Amz-Signature", sig))
    return path + "?" + raw_query(q)


def flip_hex(sig):
    return sig[:-1] + ("0" if sig[-1] != "0" else "1")


# ---- raw HTTP ----------------------------------------------------------------------------------

class Resp:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    @property
    def code(self):
        try:
            root = ET.fromstring(self.body)
        except ET.ParseError:
            return None
        el = root.find("Code")
        return el.text if el is not None else None

    def __repr__(self):
        return "HTTP %d %s %r" % (self.status, self.code, self.body[:300])


class Conn:
    def __init__(self, timeout=15.0):
        self.s = socket.create_connection(ADDR, timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def send(self, data):
        self.s.sendall(data)

    def _fill(self):
        d = self.s.recv(1 << 16)
        if not d:
            raise EOFError("connection closed by the server")
        self.buf += d

    def _until(self, sep, limit=1 << 20):
        while sep not in self.buf:
            check(len(self.buf) < limit, "response head too large")
            self._fill()
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _n(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self, method):
        while True:
            head = self._until(b"\r\n\r\n").decode("latin-1")
            lines = head.split("\r\n")
            status = int(lines[0].split(" ")[1])
            headers = {}
            for line in lines[1:]:
                if line:
                    n, _, v = line.partition(":")
                    headers[n.strip().lower()] = v.strip()
            if 100 <= status < 200:
                continue
            break
        if method == "HEAD" or status in (204, 304):
            body = b""
        elif "content-length" in headers:
            body = self._n(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self._until(b"\r\n").split(b";")[0], 16)
                body += self._n(size)
                self._until(b"\r\n")
                if size == 0:
                    break
        else:
            body = self.buf
            self.buf = b""
            try:
                while True:
                    d = self.s.recv(1 << 16)
                    if not d:
                        break
                    body += d
            except OSError:
                pass
        return Resp(status, headers, body)

    def request(self, method, target, headers, body=b""):
        head = "%s %s HTTP/1.1\r\n" % (method, target)
        head += "".join("%s: %s\r\n" % (n, v) for n, v in headers) + "\r\n"
        data = head.encode("utf-8") + body
        try:
            self.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered early and closed: read its answer
        return self.read_response(method)


def with_length(headers, body, method):
    names = {n.lower() for n, _ in headers}
    if "content-length" not in names and (body or method in ("PUT", "POST")):
        headers = list(headers) + [("content-length", str(len(body)))]
    return headers


def http(method, target, headers=(), body=b"", timeout=15.0):
    headers = list(headers)
    if not any(n.lower() == "host" for n, _ in headers):
        headers.insert(0, ("host", HOST))
    c = Conn(timeout)
    try:
        return c.request(method, target, list(headers), body)
    finally:
        c.close()


def signed_request(method, bucket="", key=None, params=(), headers=(), body=b"",
                   payload_hash=None, **kw):
    headers = with_length(list(headers), body, method)
    if payload_hash is None:
        payload_hash = sha256_hex(body)
    s = sign(method, object_path(bucket, key), params, headers, payload_hash, **kw)
    return http(method, s.target, s.headers, body)


def put(key, body, headers=(), **kw):
    return signed_request("PUT", BUCKET, key, headers=headers, body=body, **kw)


def get(key, **kw):
    return signed_request("GET", BUCKET, key, **kw)


def expect(resp, status, code=None, what=""):
    check("x-amz-request-id" in resp.headers, "%s: no x-amz-request-id header in %r" % (what, resp))
    check(resp.status == status and (code is None or resp.code == code),
          "%s: expected %d %s, got %r" % (what, status, code or "", resp))


def list_keys(prefix="", v2=True, url=False):
    """Every key (with ETag and size) in BUCKET under prefix, following continuation."""
    out = {}
    token = None
    marker = None
    while True:
        params = [("list-type", "2")] if v2 else []
        if prefix:
            params.append(("prefix", prefix))
        if url:
            params.append(("encoding-type", "url"))
        if token:
            params.append(("continuation-token", token))
        if marker:
            params.append(("marker", marker))
        r = signed_request("GET", BUCKET, params=params)
        expect(r, 200, what="list")
        root = ET.fromstring(r.body)
        last = None
        for c in root.findall(NS + "Contents"):
            k = c.find(NS + "Key").text or ""
            if url:
                k = urllib.parse.unquote(k, errors="strict")
            out[k] = (c.find(NS + "ETag").text, int(c.find(NS + "Size").text))
            last = c.find(NS + "Key").text
        if root.find(NS + "IsTruncated").text != "true":
            return out
        if v2:
            token = root.find(NS + "NextContinuationToken").text
        else:
            marker = last


def get_bytes(key):
    r = get(key)
    expect(r, 200, what="GET " + repr(key))
    return r.body


def rss_kib():
    if not PID:
        return 0
    with open("/proc/%d/status" % PID) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fd_count():
    if not PID:
        return 0
    return len(os.listdir("/proc/%d/fd" % PID))


# Objects the cases leave behind: key -> bytes. The store must hold exactly these at the end.
EXPECTED = {}


def store(key, body, **kw):
    r = put(key, body, **kw)
    expect(r, 200, what="PUT " + repr(key))
    check(r.headers.get("etag") == '"%s"' % hashlib.md5(body).hexdigest(),
          "PUT %r: ETag %r is not the MD5" % (key, r.headers.get("etag")))
    EXPECTED[key] = body


def unchanged(before, what):
    after = list_keys()
    check(after == before, "%s changed the store: %s" % (what, diff(before, after)))
    for k in ("existing",):
        check(get_bytes(k) == EXPECTED[k], "%s: object %r was modified" % (what, k))


def diff(a, b):
    added = sorted(set(b) - set(a))
    gone = sorted(set(a) - set(b))
    changed = sorted(k for k in set(a) & set(b) if a[k] != b[k])
    return "added %r, removed %r, changed %r" % (added[:5], gone[:5], changed[:5])


# ---- cases -------------------------------------------------------------------------------------

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


@case
def wrong_secret():
    before = list_keys()
    r = put("ws-new", b"data", sk="not-the-secret-0000")
    expect(r, 403, "SignatureDoesNotMatch", "PUT with a wrong secret")
    r = put("existing", b"overwritten", sk="not-the-secret-0000")
    expect(r, 403, "SignatureDoesNotMatch", "overwrite with a wrong secret")
    r = get("existing", sk="not-the-secret-0000")
    expect(r, 403, "SignatureDoesNotMatch", "GET with a wrong secret")
    check(b"existing-bytes" not in r.body, "a rejected GET returned the object")
    unchanged(before, "wrong secret")


@case
def unknown_key():
    before = list_keys()
    expect(put("uk-new", b"data", ak="NOSUCHACCESSKEY"), 403, "InvalidAccessKeyId", "PUT")
    expect(get("existing", ak="NOSUCHACCESSKEY"), 403, "InvalidAccessKeyId", "GET")
    unchanged(before, "unknown key")


@case
def clock_skew():
    before = list_keys()
    for off in (-20 * 60, 20 * 60):
        r = put("skew-new", b"data", date=amz_date(off))
        expect(r, 403, "RequestTimeTooSkewed", "PUT skewed by %d s" % off)
        r = get("existing", date=amz_date(off))
        expect(r, 403, "RequestTimeTooSkewed", "GET skewed by %d s" % off)
    # Within the 15 minutes: accepted.
    expect(get("existing", date=amz_date(-10 * 60)), 200, what="GET 10 min old")
    unchanged(before, "clock skew")


@case
def presigned():
    before = list_keys()
    path = object_path(BUCKET, "existing")
    r = http("GET", presign("GET", path, expires=300))
    expect(r, 200, what="valid presigned GET")
    check(r.body == EXPECTED["existing"], "presigned GET returned other bytes")
    r = http("GET", presign("GET", path, expires=604800))
    expect(r, 200, what="presigned GET with a 7-day expiry")
    r = http("GET", presign("GET", path, expires=60, date=amz_date(-3600)))
    expect(r, 403, "AccessDenied", "expired presigned GET")
    check(EXPECTED["existing"] not in r.body, "expired URL returned the object")
    r = http("GET", presign("GET", path, tamper_signature=True))
    expect(r, 403, "SignatureDoesNotMatch", "presigned GET with a tampered signature")
    # Signed for 60 s two minutes ago, then the expiry raised in the URL.
    r = http("GET", presign("GET", path, expires=60, date=amz_date(-120), override_expires=3600))
    expect(r, 403, "SignatureDoesNotMatch", "presigned GET with a tampered expiry")
    r = http("GET", presign("GET", path, expires=604801))
    expect(r, 400, "AuthorizationQueryParametersError", "presigned GET expiring after 7 days")
    r = http("GET", presign("GET", path, expires=300, date=amz_date(3600)))
    expect(r, 403, "AccessDenied", "presigned GET dated an hour in the future")
    # Presigned PUTs: a tampered one stores nothing, a tampered expiry neither.
    p = object_path(BUCKET, "presigned-new")
    r = http("PUT", presign("PUT", p, tamper_signature=True), [("content-length", "4")], b"evil")
    expect(r, 403, "SignatureDoesNotMatch", "presigned PUT with a tampered signature")
    r = http("PUT", presign("PUT", p, expires=60, date=amz_date(-120), override_expires=3600),
             [("content-length", "4")], b"evil")
    expect(r, 403, "SignatureDoesNotMatch", "presigned PUT with a tampered expiry")
    r = http("PUT", presign("PUT", p, expires=60, date=amz_date(-3600)), [("content-length", "4")],
             b"evil")
    expect(r, 403, "AccessDenied", "expired presigned PUT")
    # The query names another key than the one signed: a path swap.
    url = presign("GET", path).replace("/existing?", "/other?")
    expect(http("GET", url), 403, "SignatureDoesNotMatch", "presigned URL moved to another key")
    unchanged(before, "presigned")
    r = http("PUT", presign("PUT", p), [("content-length", "4")], b"good")
    expect(r, 200, what="valid presigned PUT")
    EXPECTED["presigned-new"] = b"good"
    check(get_bytes("presigned-new") == b"good", "presigned PUT stored other bytes")


@case
def host_not_signed():
    before = list_keys()
    names = ["content-length", "x-amz-content-sha256", "x-amz-date"]
    r = put("nohost-new", b"data", signed_names=names)
    expect(r, 400, "AuthorizationHeaderMalformed", "PUT without host in SignedHeaders")
    r = get("existing", signed_names=["x-amz-content-sha256", "x-amz-date"])
    expect(r, 400, "AuthorizationHeaderMalformed", "GET without host in SignedHeaders")
    r = http("GET", presign("GET", object_path(BUCKET, "existing"), signed_names=("x-amz-date",)))
    expect(r, 400, "AuthorizationQueryParametersError", "presigned GET without host signed")
    # A signed header that is absent from the request.
    s = sign("GET", object_path(BUCKET, "existing"), headers=[("x-amz-meta-gone", "1")])
    hdrs = [(n, v) for n, v in s.headers if n != "x-amz-meta-gone"]
    expect(http("GET", s.target, hdrs), 403, "SignatureDoesNotMatch", "a signed header removed")
    # A signed header whose value was changed in transit.
    s = sign("PUT", object_path(BUCKET, "existing"), headers=[("content-length", "4"),
             ("content-type", "text/plain")], payload_hash=sha256_hex(b"evil"))
    hdrs = [(n, "text/html" if n == "content-type" else v) for n, v in s.headers]
    expect(http("PUT", s.target, hdrs, b"evil"), 403, "SignatureDoesNotMatch",
           "a signed header changed")
    unchanged(before, "host not signed")


@case
def sigv2():
    before = list_keys()
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())
    sig = base64.b64encode(hmac.new(SK.encode(), ("GET\n\n\n%s\n/%s/existing" % (date, BUCKET))
                                    .encode(), hashlib.sha1).digest()).decode()
    r = http("GET", object_path(BUCKET, "existing"), [("host", HOST), ("date", date),
                                                        ("authorization", "AWS %s:%s" % (AK, sig))])
    expect(r, 400, "InvalidRequest", "SigV2 Authorization header")
    check(b"Signature Version 4" in r.body, "SigV2 error does not say what to use: %r" % r.body)
    r = http("PUT", object_path(BUCKET, "v2-new"), [("host", HOST), ("date", date),
             ("content-length", "4"), ("authorization", "AWS %s:%s" % (AK, sig))], b"data")
    expect(r, 400, "InvalidRequest", "SigV2 PUT")
    q = raw_query([("AWSAccessKeyId", AK), ("Expires", str(int(time.time()) + 300)),
                   ("Signature", sig)])
    r = http("GET", object_path(BUCKET, "existing") + "?" + q, [("host", HOST)])
    expect(r, 400, "InvalidRequest", "SigV2 presigned URL")
    unchanged(before, "SigV2")


@case
def anonymous():
    before = list_keys()
    h = [("host", HOST)]
    expect(http("GET", "/", h), 403, "AccessDenied", "anonymous ListBuckets")
    expect(http("GET", "/" + BUCKET, h), 403, "AccessDenied", "anonymous ListObjects")
    expect(http("GET", object_path(BUCKET, "existing"), h), 403, "AccessDenied", "anonymous GET")
    expect(http("HEAD", object_path(BUCKET, "existing"), h), 403, what="anonymous HEAD")
    expect(http("PUT", object_path(BUCKET, "anon-new"), h + [("content-length", "4")], b"evil"),
           403, "AccessDenied", "anonymous PUT")
    expect(http("PUT", object_path(BUCKET, "existing"), h + [("content-length", "4")], b"evil"),
           403, "AccessDenied", "anonymous overwrite")
    expect(http("DELETE", object_path(BUCKET, "existing"), h), 403, "AccessDenied",
           "anonymous DELETE")
    expect(http("PUT", "/anon-bucket", h + [("content-length", "0")]), 403, "AccessDenied",
           "anonymous CreateBucket")
    expect(http("DELETE", "/" + BUCKET, h), 403, "AccessDenied", "anonymous DeleteBucket")
    unchanged(before, "anonymous")


@case
def content_sha256_mismatch():
    before = list_keys()
    r = put("dm-new", b"the real body", payload_hash=sha256_hex(b"another body"))
    expect(r, 400, "XAmzContentSHA256Mismatch", "PUT whose body does not match its digest")
    r = put("existing", b"the real body", payload_hash=sha256_hex(b"another body"))
    expect(r, 400, "XAmzContentSHA256Mismatch", "overwrite whose body does not match")
    big = os.urandom(3 << 20)  # several blocks written before the mismatch is known
    r = put("dm-big", big, payload_hash=sha256_hex(big[:-1] + b"x"))
    expect(r, 400, "XAmzContentSHA256Mismatch", "3 MiB PUT whose body does not match")
    r = put("dm-bad", b"data", payload_hash="not-a-digest")
    expect(r, 400, what="x-amz-content-sha256 neither a digest nor a keyword")
    unchanged(before, "x-amz-content-sha256 mismatch")


@case
def content_md5():
    before = list_keys()
    wrong = base64.b64encode(hashlib.md5(b"something else").digest()).decode()
    r = put("md5-new", b"data", headers=[("content-md5", wrong)])
    expect(r, 400, "BadDigest", "PUT with a wrong Content-MD5")
    r = put("existing", b"data", headers=[("content-md5", wrong)])
    expect(r, 400, "BadDigest", "overwrite with a wrong Content-MD5")
    r = put("md5-new", b"data", headers=[("content-md5", "not base64 !!")])
    expect(r, 400, "InvalidDigest", "Content-MD5 not base64")
    r = put("md5-new", b"data", headers=[("content-md5", base64.b64encode(b"0123456789").decode())])
    expect(r, 400, "InvalidDigest", "Content-MD5 of 10 bytes")
    unchanged(before, "bad Content-MD5")
    good = base64.b64encode(hashlib.md5(b"data").digest()).decode()
    r = put("md5-new", b"data", headers=[("content-md5", good)], payload_hash="UNSIGNED-PAYLOAD")
    expect(r, 200, what="PUT with the right Content-MD5")
    EXPECTED["md5-new"] = b"data"


def chunked_body(signed, data, chunk, key=None, seed=None, date=None, scope=None,
                 tamper_sig_at=None, tamper_data_at=None, trailer=None, final=True):
    """aws-chunked framing of data; signed chunks chained from seed when `signed`."""
    out = b""
    prev = seed
    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)] + [b""]
    if not final:
        pieces = pieces[:-1]
    for i, piece in enumerate(pieces):
        ext = b""
        if signed:
            sts = "AWS4-HMAC-SHA256-PAYLOAD\n%s\n%s\n%s\n%s\n%s" % (
                date, scope, prev, EMPTY_SHA, sha256_hex(piece))
            sig = hmac_hex(key, sts)
            prev = sig
            ext = (";chunk-signature=" + (flip_hex(sig) if i == tamper_sig_at else sig)).encode()
        if i == tamper_data_at:
            piece = bytes([piece[0] ^ 1]) + piece[1:]
        out += b"%x" % len(piece) + ext + b"\r\n" + piece
        if piece:
            out += b"\r\n"
    if final:
        # After "0[;sig]\r\n": the trailer lines, then an empty line.
        out += (trailer + b"\r\n" if trailer is not None else b"") + b"\r\n"
    return out


def streaming_put(key, data, chunk=65536, **kw):
    headers = [("content-encoding", "aws-chunked"), ("x-amz-decoded-content-length", str(len(data)))]
    mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    # The body length must be known before signing: frame once with a dummy key to measure it.
    probe = chunked_body(True, data, chunk, key=b"k", seed="0" * 64, date="d", scope="s",
                         final=kw.get("final", True))
    s = sign("PUT", object_path(BUCKET, key), (), headers + [("content-length", str(len(probe)))],
             mode)
    body = chunked_body(True, data, chunk, key=s.key, seed=s.signature, date=s.date, scope=s.scope,
                        **kw)
    check(len(body) == len(probe), "framing length changed")
    return http("PUT", s.target, s.headers, body)


@case
def streaming_signed():
    data = os.urandom(200000)
    r = streaming_put("stream-ok", data)
    expect(r, 200, what="STREAMING-AWS4-HMAC-SHA256-PAYLOAD upload")
    check(r.headers.get("etag") == '"%s"' % hashlib.md5(data).hexdigest(), "streaming ETag")
    check(get_bytes("stream-ok") == data, "streamed object bytes differ")
    EXPECTED["stream-ok"] = data
    before = list_keys()
    other = os.urandom(200000)
    for k in ("stream-new", "stream-ok"):
        r = streaming_put(k, other, tamper_sig_at=1)
        expect(r, 403, "SignatureDoesNotMatch", "tampered chunk signature (%s)" % k)
        r = streaming_put(k, other, tamper_data_at=2)
        expect(r, 403, "SignatureDoesNotMatch", "tampered chunk data (%s)" % k)
        r = streaming_put(k, other, tamper_sig_at=4)  # the final, empty chunk
        expect(r, 403, "SignatureDoesNotMatch", "tampered final chunk signature (%s)" % k)
        r = streaming_put(k, other, final=False)
        expect(r, 400, what="stream without its final chunk (%s)" % k)
    # A bad seed: the request signature itself.
    headers = [("content-encoding", "aws-chunked"), ("x-amz-decoded-content-length", "5")]
    s = sign("PUT", object_path(BUCKET, "stream-new"), (), headers, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
             tamper_signature=True)
    body = chunked_body(True, b"hello", 8192, key=s.key, seed=s.signature, date=s.date, scope=s.scope)
    r = http("PUT", s.target, s.headers + [("content-length", str(len(body)))], body)
    expect(r, 403, "SignatureDoesNotMatch", "streaming upload with a bad seed signature")
    unchanged(before, "tampered streaming uploads")
    check(get_bytes("stream-ok") == data, "stream-ok was modified")


def trailer_put(key, data, crc=None, tamper_seed=False, chunk=65536):
    crc = crc if crc is not None else zlib.crc32(data)
    trailer = b"x-amz-checksum-crc32:" + base64.b64encode(crc.to_bytes(4, "big"))
    body = chunked_body(False, data, chunk, trailer=trailer)
    headers = [("content-encoding", "aws-chunked"), ("x-amz-decoded-content-length", str(len(data))),
               ("x-amz-trailer", "x-amz-checksum-crc32"), ("content-length", str(len(body)))]
    s = sign("PUT", object_path(BUCKET, key), (), headers, "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
             tamper_signature=tamper_seed)
    return http("PUT", s.target, s.headers, body)


@case
def streaming_unsigned_trailer():
    data = os.urandom(150000)
    r = trailer_put("trailer-ok", data)
    expect(r, 200, what="STREAMING-UNSIGNED-PAYLOAD-TRAILER upload")
    check(get_bytes("trailer-ok") == data, "trailer upload bytes differ")
    EXPECTED["trailer-ok"] = data
    before = list_keys()
    for k in ("trailer-new", "trailer-ok"):
        r = trailer_put(k, os.urandom(1000), tamper_seed=True)
        expect(r, 403, "SignatureDoesNotMatch", "unsigned-trailer upload with a bad seed (%s)" % k)
        other = os.urandom(150000)
        r = trailer_put(k, other, crc=zlib.crc32(other) ^ 1)
        expect(r, 400, "BadDigest", "wrong x-amz-checksum-crc32 trailer (%s)" % k)
    # Anonymous streaming upload: no seed at all.
    body = chunked_body(False, b"evil", 8192, trailer=b"x-amz-checksum-crc32:" +
                        base64.b64encode(zlib.crc32(b"evil").to_bytes(4, "big")))
    r = http("PUT", object_path(BUCKET, "trailer-new"), [
        ("host", HOST), ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
        ("content-encoding", "aws-chunked"), ("x-amz-trailer", "x-amz-checksum-crc32"),
        ("x-amz-decoded-content-length", "4"), ("content-length", str(len(body)))], body)
    expect(r, 403, "AccessDenied", "anonymous unsigned-trailer upload")
    unchanged(before, "bad unsigned-trailer uploads")
    check(get_bytes("trailer-ok") == data, "trailer-ok was modified")


def first_response_head(c):
    """The first status line and headers the server sends (1xx included)."""
    head = c._until(b"\r\n\r\n").decode("latin-1")
    return int(head.split(" ")[1]), head


@case
def expect_continue():
    before = list_keys()
    body = os.urandom(1 << 20)
    # Rejected before the body is sent: the answer is the error, never "100 Continue".
    for kw, status, code in (({"sk": "not-the-secret-0000"}, 403, "SignatureDoesNotMatch"),
                             ({"ak": "NOSUCHACCESSKEY"}, 403, "InvalidAccessKeyId")):
        s = sign("PUT", object_path(BUCKET, "continue-new"),
                 headers=[("content-length", str(len(body))), ("expect", "100-continue")],
                 payload_hash="UNSIGNED-PAYLOAD", **kw)
        c = Conn(timeout=5)
        c.send(("PUT %s HTTP/1.1\r\n" % s.target + "".join("%s: %s\r\n" % h for h in s.headers) +
                "\r\n").encode())
        first, head = first_response_head(c)
        check(first == status, "Expect: 100-continue with a bad signature: first answer %r" % head)
        c.close()
    r = http("PUT", object_path(BUCKET, "continue-new"), [("content-length", str(len(body))),
                                                            ("expect", "100-continue")])
    expect(r, 403, "AccessDenied", "anonymous PUT with Expect: 100-continue")
    unchanged(before, "rejected 100-continue uploads")
    # Accepted: 100 first, then the body, then 200.
    s = sign("PUT", object_path(BUCKET, "continue-ok"),
             headers=[("content-length", str(len(body))), ("expect", "100-continue")],
             payload_hash="UNSIGNED-PAYLOAD")
    c = Conn(timeout=5)
    c.send(("PUT %s HTTP/1.1\r\n" % s.target + "".join("%s: %s\r\n" % h for h in s.headers) +
            "\r\n").encode())
    first, head = first_response_head(c)
    check(first == 100, "accepted Expect: 100-continue: first answer %r" % head)
    c.send(body)
    r = c.read_response("PUT")
    c.close()
    expect(r, 200, what="PUT after 100 Continue")
    EXPECTED["continue-ok"] = body
    check(get_bytes("continue-ok") == body, "100-continue upload bytes")


@case
def request_smuggling():
    before = list_keys()
    hidden = sign("PUT", object_path(BUCKET, "smuggled"), headers=[("content-length", "4")],
                  payload_hash=sha256_hex(b"evil"))
    hidden_req = ("PUT %s HTTP/1.1\r\n" % hidden.target +
                  "".join("%s: %s\r\n" % h for h in hidden.headers) + "\r\n").encode() + b"evil"
    g = sign("GET", object_path(BUCKET, "existing"))
    base = "GET %s HTTP/1.1\r\n" % g.target + "".join("%s: %s\r\n" % h for h in g.headers)
    attempts = {
        "Content-Length and Transfer-Encoding": base + "content-length: %d\r\n"
        "transfer-encoding: chunked\r\n\r\n0\r\n\r\n" % (len(hidden_req) + 5),
        "two Content-Lengths": base + "content-length: 0\r\ncontent-length: %d\r\n\r\n"
        % len(hidden_req),
        "Transfer-Encoding: xchunked": base + "transfer-encoding: xchunked\r\n\r\n",
        "negative Content-Length": base + "content-length: -%d\r\n\r\n" % len(hidden_req),
    }
    for name, head in attempts.items():
        c = Conn(timeout=5)
        try:
            c.send(head.encode() + hidden_req)
        except OSError:
            pass
        answers = []
        try:
            while True:
                answers.append(c.read_response("GET").status)
                c.s.settimeout(1.0)  # a second answer would come at once
        except (EOFError, OSError, Failure):
            pass
        c.close()
        check(len(answers) <= 1, "%s: %d answers %r (a hidden request was run)" % (name, len(answers), answers))
        check(not answers or answers[0] in (200, 400, 501), "%s: answer %r" % (name, answers))
    still_serving("smuggling attempts")
    unchanged(before, "request smuggling")


@case
def huge_content_length():
    before = list_keys()
    for n in (6 << 30, 1 << 62):
        s = sign("PUT", object_path(BUCKET, "huge-new"), headers=[("content-length", str(n))],
                 payload_hash="UNSIGNED-PAYLOAD")
        c = Conn(timeout=5)
        t0 = time.time()
        c.send(("PUT %s HTTP/1.1\r\n" % s.target + "".join("%s: %s\r\n" % h for h in s.headers) +
                "\r\n").encode() + b"x" * 1000)
        r = c.read_response("PUT")
        c.close()
        expect(r, 400, "EntityTooLarge", "PUT announcing %d bytes" % n)
        check(time.time() - t0 < 2, "EntityTooLarge took %.1f s" % (time.time() - t0))
    unchanged(before, "huge Content-Length")


ODD_KEYS = ["../escape", "a/../../b", "..", ".", "./x", "a//b", "//double", "/leading",
            "with space", "  spaces  around  ", "plus+sign", "percent%", "percent%20literal",
            "%2F-encoded-slash", "tilde~", "ünïcödé/ファイル.txt", "emoji-\U0001F600",
            "trailing/", "dir/sub/", "q?mark", "hash#frag", "amp&eq=semi;", "quote\"'<>&amp;",
            "back\\slash", "star*paren()", "comma,colon:", "x" * 200 + "/y"]


@case
def odd_keys():
    for i, k in enumerate(ODD_KEYS):
        store(k, ("%d:" % i).encode() + k.encode())
    for i, k in enumerate(ODD_KEYS):
        check(get_bytes(k) == EXPECTED[k], "GET %r returned other bytes" % k)
        r = signed_request("HEAD", BUCKET, k)
        expect(r, 200, what="HEAD %r" % k)
        check(int(r.headers["content-length"]) == len(EXPECTED[k]), "HEAD %r size" % k)
    # Listings carry the keys exactly: V2, V1, V2 with encoding-type=url, and by exact prefix.
    for v2, url in ((True, False), (False, False), (True, True)):
        listed = list_keys(v2=v2, url=url)
        for k in ODD_KEYS:
            check(k in listed, "%r missing from the listing (v2=%s url=%s); listed %r"
                  % (k, v2, url, sorted(listed)[:40]))
    for k in ODD_KEYS:
        listed = list_keys(prefix=k)
        check(k in listed, "prefix listing of %r lacks it: %r" % (k, sorted(listed)))
    # A key is never a path: "../escape" did not land outside the bucket.
    expect(get("escape"), 404, "NoSuchKey", "GET of the '..'-stripped key")
    expect(signed_request("GET", "escape"), 404, "NoSuchBucket", "'..' did not create a bucket")


@case
def key_too_long():
    before = list_keys()
    expect(put("k" * 1025, b"data"), 400, "KeyTooLongError", "PUT of a 1025-byte key")
    expect(get("k" * 1025), 400, "KeyTooLongError", "GET of a 1025-byte key")
    uni = "é" * 512 + "k"  # 1025 bytes in UTF-8
    expect(put(uni, b"data"), 400, "KeyTooLongError", "PUT of a 1025-byte unicode key")
    unchanged(before, "key too long")
    store("k" * 1024, b"max")
    check(get_bytes("k" * 1024) == b"max", "1024-byte key")


def still_serving(what):
    t0 = time.time()
    r = get("existing")
    expect(r, 200, what="GET after " + what)
    check(r.body == EXPECTED["existing"], "GET after %s returned other bytes" % what)
    check(time.time() - t0 < 2, "GET after %s took %.1f s" % (what, time.time() - t0))


@case
def oversized_headers():
    before = list_keys()
    s = sign("GET", object_path(BUCKET, "existing"))
    r = http("GET", s.target, s.headers + [("x-big", "a" * (80 << 10))])
    check(r.status in (431, 400), "80 KiB header: expected 431 or 400, got %r" % r)
    r = http("GET", s.target, s.headers + [("x-h%d" % i, "v" * 40) for i in range(3000)])
    check(r.status in (431, 400), "3000 headers: expected 431 or 400, got %r" % r)
    s = sign("PUT", object_path(BUCKET, "big-head-new"), headers=[("content-length", "4")],
             payload_hash=sha256_hex(b"evil"))
    r = http("PUT", s.target, s.headers + [("x-big", "b" * (200 << 10))], b"evil")
    check(r.status in (431, 400), "PUT with a 200 KiB header: got %r" % r)
    # A request line alone larger than the limit.
    r = http("GET", "/" + BUCKET + "/" + "a" * (100 << 10), [("host", HOST)])
    check(r.status in (431, 400, 414), "100 KiB request target: got %r" % r)
    still_serving("oversized headers")
    unchanged(before, "oversized headers")


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
"""


def xml_post(params, body, key=None):
    h = [("content-md5", base64.b64encode(hashlib.md5(body).digest()).decode())]
    return signed_request("POST", BUCKET, key, params=params, headers=h, body=body)


@case
def xml_bombs():
    before = list_keys()
    r = signed_request("POST", BUCKET, "mp-target", params=[("uploads", None)])
    expect(r, 200, what="CreateMultipartUpload")
    upload = ET.fromstring(r.body).find(NS + "UploadId").text
    deletes = {
        "entity bomb": BOMB + b"<Delete><Object><Key>&lol9;</Key></Object></Delete>",
        "external entity": XXE + b"<Delete><Object><Key>&xxe;</Key></Object></Delete>",
        "doctype only": b'<!DOCTYPE Delete SYSTEM "http://example.invalid/x.dtd">'
                        b"<Delete><Object><Key>existing</Key></Object></Delete>",
        "undefined entity": b"<Delete><Object><Key>&existing;</Key></Object></Delete>",
        "deep nesting": b"<Delete>" + b"<a>" * 100000 + b"</a>" * 100000 + b"</Delete>",
        "many elements": b"<Delete>" + b"<Object><Key>existing</Key></Object>" * 20000 + b"</Delete>",
        "processing instruction": b'<?xml-stylesheet href="x"?><Delete><Object><Key>existing</Key>'
                                  b"</Object></Delete><!ENTITY x 'y'>",
    }
    completes = {
        "entity bomb": BOMB + b"<CompleteMultipartUpload><Part><PartNumber>&lol9;</PartNumber>"
                              b"<ETag>x</ETag></Part></CompleteMultipartUpload>",
        "external entity": XXE + b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
                                 b"<ETag>&xxe;</ETag></Part></CompleteMultipartUpload>",
        "deep nesting": b"<CompleteMultipartUpload>" + b"<Part>" * 50000 + b"</Part>" * 50000 +
                        b"</CompleteMultipartUpload>",
    }
    rss0 = rss_kib()
    for name, body in deletes.items():
        t0 = time.time()
        r = xml_post([("delete", None)], body)
        expect(r, 400, "MalformedXML", "DeleteObjects with " + name)
        check(time.time() - t0 < 1.5, "DeleteObjects with %s took %.1f s" % (name, time.time() - t0))
    for name, body in completes.items():
        t0 = time.time()
        r = xml_post([("uploadId", upload)], body, key="mp-target")
        expect(r, 400, "MalformedXML", "CompleteMultipartUpload with " + name)
        check(time.time() - t0 < 1.5, "Complete with %s took %.1f s" % (name, time.time() - t0))
    grown = rss_kib() - rss0
    check(grown < 64 << 10, "server RSS grew by %d KiB on XML bombs" % grown)
    # A body over the XML limit: rejected, and nothing it names is deleted.
    big = b"<Delete>" + b"<Object><Key>existing</Key></Object>" * 60000 + b"</Delete>"
    check(len(big) > 2 << 20, "big XML body size")
    t0 = time.time()
    r = xml_post([("delete", None)], big)
    expect(r, 400, "MalformedXML", "2 MiB DeleteObjects body")
    check(time.time() - t0 < 3, "2 MiB XML body took %.1f s" % (time.time() - t0))
    big = (b"<CompleteMultipartUpload>" + b"<Part><PartNumber>1</PartNumber><ETag>x</ETag></Part>" *
           45000 + b"</CompleteMultipartUpload>")
    r = xml_post([("uploadId", upload)], big, key="mp-target")
    expect(r, 400, "MalformedXML", "2 MiB CompleteMultipartUpload body")
    still_serving("XML bombs")
    expect(signed_request("DELETE", BUCKET, "mp-target", params=[("uploadId", upload)]), 204,
           what="AbortMultipartUpload")
    unchanged(before, "XML bombs")


@case
def idle_connections():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 8192) if hard != resource.RLIM_INFINITY else 8192
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    check(want >= 2100, "RLIMIT_NOFILE hard limit %d is too low for 2000 connections" % hard)
    socks = []
    t0 = time.time()
    try:
        for i in range(2000):
            s = socket.create_connection(ADDR, timeout=10)
            if i % 2:
                s.sendall(b"GET /" + BUCKET.encode() + b" HTTP/1.1\r\nHost: x\r\n")  # no end
            socks.append(s)
        opened = time.time() - t0
        time.sleep(0.3)
        fds = fd_count()
        worst = 0.0
        for i in range(20):
            t1 = time.time()
            if i % 2:
                store("idle-%d" % i, b"x" * 1000 * i)
            else:
                still_serving("2000 idle connections")
            worst = max(worst, time.time() - t1)
        check(worst < 2, "a request took %.1f s with 2000 idle connections" % worst)
        print("    2000 connections opened in %.1f s; server fds %d; slowest request %.0f ms"
              % (opened, fds, worst * 1000))
    finally:
        for s in socks:
            s.close()
    still_serving("closing 2000 connections")


@case
def slow_client():
    body = b"slow body, one byte per 100 ms"
    s = sign("PUT", object_path(BUCKET, "slow-put"), headers=[("content-length", str(len(body)))],
             payload_hash=sha256_hex(body))
    result = {}

    def slow_body():
        try:
            c = Conn(timeout=30)
            head = "PUT %s HTTP/1.1\r\n" % s.target + "".join("%s: %s\r\n" % h for h in s.headers)
            c.send((head + "\r\n").encode())
            for b in body:
                c.send(bytes([b]))
                time.sleep(0.1)
            result["body"] = c.read_response("PUT")
            c.close()
        except Exception as e:  # noqa: BLE001
            result["body"] = e

    g = sign("GET", object_path(BUCKET, "existing"))
    get_head = ("GET %s HTTP/1.1\r\n" % g.target + "".join("%s: %s\r\n" % h for h in g.headers) +
                "\r\n").encode()

    def slow_head():
        try:
            c = Conn(timeout=30)
            for i in range(0, len(get_head), 16):
                c.send(get_head[i:i + 16])
                time.sleep(0.1)
            result["head"] = c.read_response("GET")
            c.close()
        except Exception as e:  # noqa: BLE001
            result["head"] = e

    threads = [threading.Thread(target=slow_body), threading.Thread(target=slow_head)]
    for t in threads:
        t.start()
    worst = 0.0
    n = 0
    while any(t.is_alive() for t in threads):
        t1 = time.time()
        still_serving("a slow client")
        worst = max(worst, time.time() - t1)
        n += 1
        time.sleep(0.05)
    for t in threads:
        t.join()
    check(worst < 0.5, "a request took %.0f ms while a slow client uploaded" % (worst * 1000))
    check(isinstance(result["body"], Resp), "slow upload failed: %r" % result["body"])
    expect(result["body"], 200, what="slow upload")
    check(isinstance(result["head"], Resp), "slow request head failed: %r" % result["head"])
    expect(result["head"], 200, what="GET with a slow request head")
    EXPECTED["slow-put"] = body
    check(get_bytes("slow-put") == body, "slow upload stored other bytes")
    print("    %d requests served during the slow upload; slowest %.0f ms" % (n, worst * 1000))


def abandon(key, total, sent, streaming=False, rst=False):
    data = os.urandom(total)
    if streaming:
        headers = [("content-encoding", "aws-chunked"), ("x-amz-decoded-content-length", str(total))]
        probe = chunked_body(True, data, 65536, key=b"k", seed="0" * 64, date="d", scope="s")
        s = sign("PUT", object_path(BUCKET, key), (),
                 headers + [("content-length", str(len(probe)))], "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
        body = chunked_body(True, data, 65536, key=s.key, seed=s.signature, date=s.date,
                            scope=s.scope)
    else:
        s = sign("PUT", object_path(BUCKET, key), headers=[("content-length", str(total))],
                 payload_hash="UNSIGNED-PAYLOAD")
        body = data
    c = Conn()
    head = "PUT %s HTTP/1.1\r\n" % s.target + "".join("%s: %s\r\n" % h for h in s.headers) + "\r\n"
    c.send(head.encode() + body[:sent])
    time.sleep(0.2)
    if rst:
        c.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()


@case
def disconnect_mid_upload():
    before = list_keys()
    abandon("gone-new", 1 << 20, 300 << 10)
    abandon("gone-new", 3 << 20, (2 << 20) + 12345, rst=True)
    abandon("existing", 1 << 20, 500 << 10)
    abandon("gone-stream", 1 << 20, 400 << 10, streaming=True)
    abandon("stream-ok", 1 << 20, 700 << 10, streaming=True, rst=True)
    # Multipart: a part abandoned half-way is not listed.
    r = signed_request("POST", BUCKET, "gone-mp", params=[("uploads", None)])
    expect(r, 200, what="CreateMultipartUpload")
    upload = ET.fromstring(r.body).find(NS + "UploadId").text
    s = sign("PUT", object_path(BUCKET, "gone-mp"), [("partNumber", "1"), ("uploadId", upload)],
             [("content-length", str(6 << 20))], "UNSIGNED-PAYLOAD")
    c = Conn()
    c.send(("PUT %s HTTP/1.1\r\n" % s.target + "".join("%s: %s\r\n" % h for h in s.headers) +
            "\r\n").encode() + os.urandom(3 << 20))
    c.close()
    time.sleep(0.5)
    r = signed_request("GET", BUCKET, "gone-mp", params=[("uploadId", upload)])
    expect(r, 200, what="ListParts")
    check(not ET.fromstring(r.body).findall(NS + "Part"), "an abandoned part is listed: %r" % r.body)
    expect(signed_request("DELETE", BUCKET, "gone-mp", params=[("uploadId", upload)]), 204,
           what="AbortMultipartUpload")
    still_serving("abandoned uploads")
    unchanged(before, "abandoned uploads")
    check(get_bytes("stream-ok") == EXPECTED["stream-ok"], "stream-ok was modified")


@case
def server_alive():
    r = signed_request("GET", "")
    expect(r, 200, what="ListBuckets")
    listed = list_keys()
    check(set(listed) == set(EXPECTED), "the store holds other keys than expected: %s"
          % diff({k: 0 for k in EXPECTED}, {k: 0 for k in listed}))
    for k, body in EXPECTED.items():
        check(listed[k] == ('"%s"' % hashlib.md5(body).hexdigest(), len(body)),
              "listing entry of %r: %r" % (k, listed[k]))
    check(r.status == 200, "server alive")


def main():
    t_start = time.time()
    expect(signed_request("PUT", BUCKET), 200, what="CreateBucket")
    store("existing", b"existing-bytes " * 100)
    passed = failed = 0
    only = sys.argv[1:]
    for fn in CASES:
        if only and fn.__name__ not in only and fn.__name__ != "server_alive":
            continue
        t0 = time.time()
        try:
            fn()
            passed += 1
            print("ok   %-28s %6.2f s" % (fn.__name__, time.time() - t0), flush=True)
        except Exception as e:  # noqa: BLE001
            failed += 1
            print("FAIL %-28s %6.2f s: %s" % (fn.__name__, time.time() - t0, e), flush=True)
            if not isinstance(e, Failure):
                traceback.print_exc()
    print("security: %.1f s" % (time.time() - t_start))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
