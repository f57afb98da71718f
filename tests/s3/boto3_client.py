#!/usr/bin/python3
"""boto3 (Debian's python3-boto3) against a real `s3xfs serve` listener: every operation of
shared/S3_CLIENTS.md, path-style addressing.

Run by tests/s3/boto3.sh, which starts the server and sets S3_ENDPOINT, S3_ACCESS_KEY,
S3_SECRET_KEY, S3_ACCESS_KEY2, S3_SECRET_KEY2 and TMP. Prints one line per check group; any
failed check raises and exits 1 with the reason.
"""
import base64
import concurrent.futures
import datetime
import hashlib
import os
import sys
import time
import urllib.parse
import urllib.request
import urllib.error

import boto3
import botocore
import botocore.handlers
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["S3_ENDPOINT"]
KEY, SECRET = os.environ["S3_ACCESS_KEY"], os.environ["S3_SECRET_KEY"]
KEY2, SECRET2 = os.environ["S3_ACCESS_KEY2"], os.environ["S3_SECRET_KEY2"]
TMP = os.environ.get("TMP", "/tmp")
MiB = 1024 * 1024
T0 = time.monotonic()


def client(key=KEY, secret=SECRET, **cfg):
    return boto3.session.Session().client(
        "s3", endpoint_url=ENDPOINT, aws_access_key_id=key, aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                      retries={"max_attempts": 1}, max_pool_connections=20, **cfg))


s3 = client()


def log(msg):
    print(f"[boto3] {msg} ({time.monotonic() - T0:.1f} s)", flush=True)


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def eq(got, want, msg):
    if got != want:
        raise Fail(f"{msg}: got {got!r}, expected {want!r}")


def expect_error(code, fn, *args, status=None, **kwargs):
    """fn(*args, **kwargs) must fail with S3 error `code` (and HTTP `status` if given)."""
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        got = e.response.get("Error", {}).get("Code")
        st = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if got != code or (status is not None and st != status):
            raise Fail(f"{fn.__name__}{args or ''}: expected {code}/{status}, got {got}/{st}: {e}")
        return e
    raise Fail(f"{getattr(fn, '__name__', fn)} {kwargs.get('Key', '')}: expected error {code}, "
               "but it succeeded")


def md5(b):
    return hashlib.md5(b).hexdigest()


def multipart_etag(parts):
    return md5(b"".join(hashlib.md5(p).digest() for p in parts)) + f"-{len(parts)}"


def data(seed, n):
    """n deterministic bytes."""
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}/{counter}".encode()).digest() * 64
        counter += 1
    return bytes(out[:n])


def headers_of(resp):
    return resp["ResponseMetadata"]["HTTPHeaders"]


def is_cid(s):
    return isinstance(s, str) and (s.startswith("bafy") or s.startswith("bafk") or s.startswith("Qm")) \
        and len(s) >= 46


def with_headers(cl, event, extra):
    """Registers a one-shot handler adding `extra` headers to the next request of `event`."""
    def add(request, **kwargs):
        for k, v in extra.items():
            request.headers[k] = v
    cl.meta.events.register_first(f"before-sign.s3.{event}", add, unique_id="s3xfs-extra")
    return lambda: cl.meta.events.unregister(f"before-sign.s3.{event}", unique_id="s3xfs-extra")


# ------------------------------------------------------------------------------------------------
def test_buckets():
    s3.create_bucket(Bucket="bt-plain")
    s3.create_bucket(Bucket="bt-loc", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    expect_error("BucketAlreadyOwnedByYou", s3.create_bucket, Bucket="bt-plain", status=409)
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    check("bt-plain" in names and "bt-loc" in names, f"list_buckets: {names}")
    eq(s3.head_bucket(Bucket="bt-plain")["ResponseMetadata"]["HTTPStatusCode"], 200, "head_bucket")
    expect_error("404", s3.head_bucket, Bucket="bt-missing")
    loc = s3.get_bucket_location(Bucket="bt-plain")
    check(loc.get("LocationConstraint") in (None, ""), f"get_bucket_location: {loc}")
    ver = s3.get_bucket_versioning(Bucket="bt-plain")
    check("Status" not in ver, f"unversioned bucket reports versioning: {ver}")
    expect_error("InvalidBucketName", s3.create_bucket, Bucket="Bad_Name", status=400)
    expect_error("NoSuchBucket", s3.list_objects_v2, Bucket="bt-missing", status=404)
    s3.put_object(Bucket="bt-loc", Key="x", Body=b"x")
    expect_error("BucketNotEmpty", s3.delete_bucket, Bucket="bt-loc", status=409)
    s3.delete_object(Bucket="bt-loc", Key="x")
    s3.delete_bucket(Bucket="bt-loc")
    expect_error("NoSuchBucket", s3.delete_bucket, Bucket="bt-loc", status=404)
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    check("bt-loc" not in names, "deleted bucket still listed")


def test_put_get_head(b):
    body = data("pgh", 100_000)
    expires = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    key = "dir/obj with space+plus%pct~tilde-ünï.bin"
    r = s3.put_object(Bucket=b, Key=key, Body=body, Metadata={"color": "blue", "Mixed-Case": "V a l"},
                      ContentType="application/x-test", ContentEncoding="identity",
                      ContentDisposition='attachment; filename="f.bin"', CacheControl="no-cache",
                      ContentLanguage="en", Expires=expires)
    eq(r["ETag"], f'"{md5(body)}"', "PutObject ETag is the MD5")
    cid = headers_of(r).get("x-amz-meta-ipfs-cid")
    check(is_cid(cid), f"PutObject response has no CID header: {headers_of(r)}")
    for fn in (s3.head_object, s3.get_object):
        g = fn(Bucket=b, Key=key)
        if fn is s3.get_object:
            eq(g["Body"].read(), body, "GetObject body")
        eq(g["ETag"], f'"{md5(body)}"', f"{fn.__name__} ETag")
        eq(g["ContentLength"], len(body), f"{fn.__name__} ContentLength")
        eq(g["ContentType"], "application/x-test", "Content-Type")
        eq(g["ContentEncoding"], "identity", "Content-Encoding")
        eq(g["ContentDisposition"], 'attachment; filename="f.bin"', "Content-Disposition")
        eq(g["CacheControl"], "no-cache", "Cache-Control")
        eq(g["ContentLanguage"], "en", "Content-Language")
        eq(g.get("Expires"), expires, "Expires")
        eq(g["Metadata"].get("color"), "blue", "x-amz-meta-color")
        eq(g["Metadata"].get("mixed-case"), "V a l", "x-amz-meta-mixed-case")
        eq(g["Metadata"].get("ipfs-cid"), cid, f"{fn.__name__}: x-amz-meta-ipfs-cid")
        check(isinstance(g["LastModified"], datetime.datetime), "LastModified")
    # Same bytes, same CID (content addressing); other bytes, other CID.
    r2 = s3.put_object(Bucket=b, Key="dir/same", Body=body)
    eq(headers_of(r2).get("x-amz-meta-ipfs-cid"), cid, "identical content has the same CID")
    r3 = s3.put_object(Bucket=b, Key="dir/other", Body=body + b"!")
    check(headers_of(r3).get("x-amz-meta-ipfs-cid") != cid, "different content, different CID")
    # Overwrite, empty object, Content-MD5, checksums.
    s3.put_object(Bucket=b, Key="dir/same", Body=b"new")
    eq(s3.get_object(Bucket=b, Key="dir/same")["Body"].read(), b"new", "overwrite")
    s3.put_object(Bucket=b, Key="empty", Body=b"")
    g = s3.get_object(Bucket=b, Key="empty")
    eq((g["ContentLength"], g["Body"].read(), g["ETag"]), (0, b"", f'"{md5(b"")}"'), "empty object")
    good_md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    s3.put_object(Bucket=b, Key="md5", Body=body, ContentMD5=good_md5)
    bad_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    expect_error("BadDigest", s3.put_object, Bucket=b, Key="md5-bad", Body=body, ContentMD5=bad_md5,
                 status=400)
    expect_error("NoSuchKey", s3.get_object, Bucket=b, Key="md5-bad", status=404)
    expect_error("InvalidDigest", s3.put_object, Bucket=b, Key="md5-bad", Body=body,
                 ContentMD5="notbase64!", status=400)
    for alg in ("CRC32", "CRC32C", "SHA1", "SHA256"):
        s3.put_object(Bucket=b, Key=f"ck/{alg}", Body=body, ChecksumAlgorithm=alg)
        eq(s3.get_object(Bucket=b, Key=f"ck/{alg}")["Body"].read(), body, f"PUT with {alg}")
    undo = with_headers(s3, "PutObject", {"x-amz-checksum-crc32": "AAAAAA=="})
    try:
        expect_error("BadDigest", s3.put_object, Bucket=b, Key="ck/bad", Body=body, status=400)
    finally:
        undo()
    expect_error("NoSuchKey", s3.get_object, Bucket=b, Key="ck/bad")
    # Unknown x-amz-* headers are ignored.
    undo = with_headers(s3, "PutObject", {"x-amz-future-feature": "1", "x-amz-storage-class": "STANDARD"})
    try:
        s3.put_object(Bucket=b, Key="unknown-hdr", Body=b"abc")
    finally:
        undo()
    expect_error("NoSuchKey", s3.get_object, Bucket=b, Key="missing", status=404)
    expect_error("404", s3.head_object, Bucket=b, Key="missing")
    eq(s3.delete_object(Bucket=b, Key="missing")["ResponseMetadata"]["HTTPStatusCode"], 204,
       "DeleteObject of a missing key")
    s3.delete_object(Bucket=b, Key="dir/other")
    expect_error("NoSuchKey", s3.get_object, Bucket=b, Key="dir/other")
    # Presigned GET and PUT.
    url = s3.generate_presigned_url("get_object", Params={"Bucket": b, "Key": key}, ExpiresIn=300)
    eq(urllib.request.urlopen(url).read(), body, "presigned GET")
    url = s3.generate_presigned_url("put_object", Params={"Bucket": b, "Key": "presigned put"},
                                    ExpiresIn=300)
    req = urllib.request.Request(url, data=b"via presigned put", method="PUT")
    urllib.request.urlopen(req).read()
    eq(s3.get_object(Bucket=b, Key="presigned put")["Body"].read(), b"via presigned put",
       "presigned PUT")
    return key, body


def test_ranges(b, key, body):
    n = len(body)
    for rng, first, last in (("bytes=10-19", 10, 19), ("bytes=0-0", 0, 0),
                             (f"bytes={n - 5}-", n - 5, n - 1), ("bytes=-7", n - 7, n - 1),
                             ("bytes=100-999999999", 100, n - 1), (f"bytes=-{n + 10}", 0, n - 1)):
        g = s3.get_object(Bucket=b, Key=key, Range=rng)
        eq(g["ResponseMetadata"]["HTTPStatusCode"], 206, f"{rng}: status")
        eq(g["ContentRange"], f"bytes {first}-{last}/{n}", f"{rng}: Content-Range")
        eq(g["Body"].read(), body[first:last + 1], f"{rng}: body")
    e = expect_error("InvalidRange", s3.get_object, Bucket=b, Key=key, Range=f"bytes={n}-", status=416)
    eq(headers_of(e.response).get("content-range"), f"bytes */{n}", "416 Content-Range")
    expect_error("InvalidRange", s3.get_object, Bucket=b, Key=key, Range=f"bytes={n + 100}-{n + 200}")
    h = s3.head_object(Bucket=b, Key=key, Range="bytes=1-2")
    eq(h["ContentLength"], 2, "HEAD with Range")
    # A ranged GET of a multi-MiB object: ranges across chunk boundaries.
    big = data("ranges-big", 3 * MiB + 17)
    s3.put_object(Bucket=b, Key="rbig", Body=big)
    for first, last in ((262143, 262144), (1048570, 2097160), (3 * MiB, 3 * MiB + 16)):
        g = s3.get_object(Bucket=b, Key="rbig", Range=f"bytes={first}-{last}")
        eq(g["Body"].read(), big[first:last + 1], f"range {first}-{last} of 3 MiB")


def test_conditionals(b, key, body):
    h = s3.head_object(Bucket=b, Key=key)
    etag, lm = h["ETag"], h["LastModified"]
    past, future = lm - datetime.timedelta(hours=1), lm + datetime.timedelta(hours=1)
    for fn, nm, pf in ((s3.get_object, "304", "PreconditionFailed"), (s3.head_object, "304", "412")):
        fn(Bucket=b, Key=key, IfMatch=etag)
        fn(Bucket=b, Key=key, IfMatch=f'"x", {etag}')
        fn(Bucket=b, Key=key, IfMatch="*")
        expect_error(pf, fn, Bucket=b, Key=key, IfMatch='"0123"', status=412)
        expect_error(nm, fn, Bucket=b, Key=key, IfNoneMatch=etag, status=304)
        expect_error(nm, fn, Bucket=b, Key=key, IfNoneMatch="*", status=304)
        fn(Bucket=b, Key=key, IfNoneMatch='"0123"')
        expect_error(nm, fn, Bucket=b, Key=key, IfModifiedSince=future, status=304)
        expect_error(nm, fn, Bucket=b, Key=key, IfModifiedSince=lm, status=304)
        fn(Bucket=b, Key=key, IfModifiedSince=past)
        expect_error(pf, fn, Bucket=b, Key=key, IfUnmodifiedSince=past, status=412)
        fn(Bucket=b, Key=key, IfUnmodifiedSince=future)
        fn(Bucket=b, Key=key, IfUnmodifiedSince=lm)
        # RFC 9110 precedence: If-Match wins over If-Unmodified-Since, If-None-Match over
        # If-Modified-Since.
        fn(Bucket=b, Key=key, IfMatch=etag, IfUnmodifiedSince=past)
        fn(Bucket=b, Key=key, IfNoneMatch='"0123"', IfModifiedSince=future)
    # 304 carries the ETag.
    e = expect_error("304", s3.get_object, Bucket=b, Key=key, IfNoneMatch=etag)
    eq(headers_of(e.response).get("etag"), etag, "304 carries the ETag")
    # PUT If-None-Match: * (create only).
    undo = with_headers(s3, "PutObject", {"If-None-Match": "*"})
    try:
        expect_error("PreconditionFailed", s3.put_object, Bucket=b, Key=key, Body=b"clobber", status=412)
        s3.put_object(Bucket=b, Key="cond/new", Body=b"fresh")
    finally:
        undo()
    eq(s3.get_object(Bucket=b, Key=key)["Body"].read(), body, "If-None-Match: * did not overwrite")
    eq(s3.get_object(Bucket=b, Key="cond/new")["Body"].read(), b"fresh", "If-None-Match: * created")


SPECIAL = ["list/sp ace", "list/plus+sign", "list/pct%41%", "list/tilde~x", "list/ünïcødé/文件",
           "list/amp&lt<gt>\"q'", "list/dir with space/a+b", "list/trailing/", "list/=eq?qm#hash"]


def test_listing(b):
    keys = [f"list/d{i % 5}/k{i:05d}" for i in range(2500)] + SPECIAL
    t = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        list(ex.map(lambda k: s3.put_object(Bucket=b, Key=k, Body=k.encode()), keys))
    log(f"  put {len(keys)} keys in {time.monotonic() - t:.1f} s")
    want = sorted(keys, key=lambda k: k.encode())

    # V2 paging via continuation tokens (botocore adds encoding-type=url and decodes).
    got, token, pages = [], None, 0
    while True:
        kw = {"ContinuationToken": token} if token else {}
        r = s3.list_objects_v2(Bucket=b, Prefix="list/", MaxKeys=700, **kw)
        pages += 1
        eq(r["KeyCount"], len(r.get("Contents", [])), "KeyCount")
        got += [o["Key"] for o in r.get("Contents", [])]
        if not r["IsTruncated"]:
            break
        token = r["NextContinuationToken"]
        eq(r["MaxKeys"], 700, "MaxKeys echoed")
    eq(got, want, "ListObjectsV2 paging over every key")
    eq(pages, (len(keys) + 699) // 700, "ListObjectsV2 pages")
    # V2 default max-keys 1000 through the paginator, with fetch-owner.
    got = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=b, Prefix="list/", FetchOwner=True):
        check(len(page.get("Contents", [])) <= 1000, "a page of more than 1000 keys")
        for o in page.get("Contents", []):
            check("Owner" in o, "fetch-owner: no Owner")
            check(o["ETag"] == f'"{md5(o["Key"].encode())}"', f"listed ETag of {o['Key']}")
            check(o["Size"] == len(o["Key"].encode()), "listed Size")
            got.append(o["Key"])
    eq(got, want, "ListObjectsV2 paginator")
    r = s3.list_objects_v2(Bucket=b, Prefix="list/d0/", MaxKeys=3)
    check(all("Owner" not in o for o in r["Contents"]), "V2 without fetch-owner returned Owner")
    # start-after
    r = s3.list_objects_v2(Bucket=b, Prefix="list/", StartAfter="list/d4/k02499", MaxKeys=1000)
    eq([o["Key"] for o in r["Contents"]], [k for k in want if k.encode() > b"list/d4/k02499"], "StartAfter")
    eq(r["StartAfter"], "list/d4/k02499", "StartAfter echoed")
    # prefix + delimiter
    r = s3.list_objects_v2(Bucket=b, Prefix="list/", Delimiter="/")
    prefixes = [p["Prefix"] for p in r.get("CommonPrefixes", [])]
    eq(prefixes, sorted({k[:k.index("/", 5) + 1] for k in keys if "/" in k[5:]}, key=str.encode),
       "CommonPrefixes")
    eq(sorted(o["Key"] for o in r.get("Contents", [])),
       sorted(k for k in keys if "/" not in k[5:]), "Contents beside CommonPrefixes")
    eq(r["KeyCount"], len(prefixes) + len(r.get("Contents", [])), "KeyCount counts prefixes")
    r = s3.list_objects_v2(Bucket=b, Prefix="list/d3/", Delimiter="/", MaxKeys=100)
    eq(len(r["Contents"]), 100, "a page of one prefix")
    check(r["IsTruncated"], "truncated page")
    # paging with a delimiter: prefixes are not repeated across pages
    seen_p, seen_k, token = [], [], None
    while True:
        kw = {"ContinuationToken": token} if token else {}
        r = s3.list_objects_v2(Bucket=b, Prefix="list/", Delimiter="/", MaxKeys=2, **kw)
        seen_p += [p["Prefix"] for p in r.get("CommonPrefixes", [])]
        seen_k += [o["Key"] for o in r.get("Contents", [])]
        if not r["IsTruncated"]:
            break
        token = r["NextContinuationToken"]
    eq(seen_p, prefixes, "CommonPrefixes paged with max-keys 2")
    eq(sorted(seen_k), sorted(k for k in keys if "/" not in k[5:]), "Contents paged with max-keys 2")

    # encoding-type=url asked for explicitly: keys come back encoded (botocore leaves them).
    r = s3.list_objects_v2(Bucket=b, Prefix="list/", StartAfter="list/d4/k02499", EncodingType="url")
    eq(r.get("EncodingType"), "url", "EncodingType echoed")
    raw = [o["Key"] for o in r["Contents"]]
    eq([urllib.parse.unquote(k) for k in raw], [k for k in want if k.encode() > b"list/d4/k02499"],
       "url-encoded keys decode to the keys")
    check(all(" " not in k and "+" not in k for k in raw), f"keys not url-encoded: {raw}")
    r = s3.list_objects_v2(Bucket=b, Prefix="list/sp ace", EncodingType="url")
    eq(r["Prefix"], "list/sp%20ace", "url-encoded Prefix")
    eq([o["Key"] for o in r["Contents"]], ["list/sp%20ace"], "url-encoded key with a space")
    # Without encoding-type: the raw XML carries the keys as they are.
    plain = client()
    for ev in ("ListObjects", "ListObjectsV2", "ListObjectVersions"):
        plain.meta.events.unregister(f"before-parameter-build.s3.{ev}",
                                     botocore.handlers.set_list_objects_encoding_type_url)
    r = plain.list_objects_v2(Bucket=b, Prefix="list/", StartAfter="list/d4/k02499")
    check("EncodingType" not in r, "EncodingType echoed though not asked for")
    eq([o["Key"] for o in r["Contents"]], [k for k in want if k.encode() > b"list/d4/k02499"],
       "keys without encoding-type")
    r = plain.list_objects(Bucket=b, Prefix="list/", Marker="list/d4/k02499")
    eq([o["Key"] for o in r["Contents"]], [k for k in want if k.encode() > b"list/d4/k02499"],
       "V1 keys without encoding-type")

    # V1: marker paging; NextMarker only with a delimiter.
    got, marker = [], ""
    while True:
        r = s3.list_objects(Bucket=b, Prefix="list/", Marker=marker, MaxKeys=1000)
        check("NextMarker" not in r, "V1 NextMarker without a delimiter")
        got += [o["Key"] for o in r.get("Contents", [])]
        if not r["IsTruncated"]:
            break
        marker = got[-1]
    eq(got, want, "ListObjects V1 paging with markers")
    got = []
    for page in s3.get_paginator("list_objects").paginate(Bucket=b, Prefix="list/"):
        got += [o["Key"] for o in page.get("Contents", [])]
    eq(got, want, "ListObjects V1 paginator")
    r = s3.list_objects(Bucket=b, Prefix="list/d1/", Delimiter="/", MaxKeys=10)
    check(r["IsTruncated"] and r.get("NextMarker") == r["Contents"][-1]["Key"],
          f"V1 NextMarker with a delimiter: {r.get('NextMarker')}")
    r = s3.list_objects(Bucket=b, Prefix="list/", Delimiter="/", EncodingType="url")
    check("list/dir%20with%20space/" in [p["Prefix"] for p in r["CommonPrefixes"]],
          f"V1 url-encoded CommonPrefixes: {r['CommonPrefixes']}")
    eq(r.get("EncodingType"), "url", "V1 EncodingType echoed")
    # V1 paging with a delimiter through NextMarker (which may name a common prefix).
    seen_p, seen_k, marker = [], [], ""
    while True:
        r = s3.list_objects(Bucket=b, Prefix="list/", Delimiter="/", MaxKeys=2, Marker=marker)
        seen_p += [p["Prefix"] for p in r.get("CommonPrefixes", [])]
        seen_k += [o["Key"] for o in r.get("Contents", [])]
        if not r["IsTruncated"]:
            break
        check(r.get("NextMarker"), "V1 truncated listing with a delimiter has no NextMarker")
        marker = r["NextMarker"]
    eq(seen_p, prefixes, "V1 CommonPrefixes paged through NextMarker")
    eq(sorted(seen_k), sorted(k for k in keys if "/" not in k[5:]), "V1 Contents paged through NextMarker")
    eq(s3.list_objects_v2(Bucket=b, Prefix="list/", MaxKeys=0)["KeyCount"], 0, "max-keys 0")
    eq(s3.list_objects_v2(Bucket=b, Prefix="nothing/")["KeyCount"], 0, "empty prefix")

    # ListObjectVersions: every object is its only "null" version.
    got = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=b, Prefix="list/"):
        for v in page.get("Versions", []):
            check(v["VersionId"] == "null" and v["IsLatest"], f"version entry {v}")
            got.append(v["Key"])
        check(not page.get("DeleteMarkers"), "delete markers in an unversioned bucket")
    eq(got, want, "ListObjectVersions paging")
    r = s3.list_object_versions(Bucket=b, Prefix="list/", Delimiter="/")
    eq([p["Prefix"] for p in r.get("CommonPrefixes", [])], prefixes, "ListObjectVersions prefixes")
    return keys


def test_delete_objects(b, keys):
    # Quiet, 1000 keys (some missing: still reported as deleted by S3).
    batch = keys[:1000]
    r = s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
    eq((r.get("Deleted", []), r.get("Errors", [])), ([], []), "quiet DeleteObjects reports nothing")
    batch = keys[1000:2000]
    r = s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": k} for k in batch]})
    eq(sorted(d["Key"] for d in r["Deleted"]), sorted(batch), "DeleteObjects reports every key")
    check(not r.get("Errors"), f"DeleteObjects errors: {r.get('Errors')}")
    r = s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "list/never-existed"}]})
    eq([d["Key"] for d in r["Deleted"]], ["list/never-existed"], "DeleteObjects of a missing key")
    expect_error("MalformedXML", s3.delete_objects, Bucket=b,
                 Delete={"Objects": [{"Key": f"k{i}"} for i in range(1001)]}, status=400)
    rest = keys[2000:]
    r = s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": k} for k in rest]})
    eq(sorted(d["Key"] for d in r["Deleted"]), sorted(rest), "DeleteObjects of special keys")
    r = s3.list_objects_v2(Bucket=b, Prefix="list/")
    eq(r["KeyCount"], 0, f"keys left after DeleteObjects: {[o['Key'] for o in r.get('Contents', [])]}")


def test_copy(b, key, body):
    src = {"Bucket": b, "Key": key}
    etag = s3.head_object(**src)["ETag"]
    # COPY (default): metadata and system headers come along.
    r = s3.copy_object(Bucket=b, Key="copy/same-meta", CopySource=src)
    eq(r["CopyObjectResult"]["ETag"], etag, "CopyObject ETag")
    h = s3.head_object(Bucket=b, Key="copy/same-meta")
    eq((h["Metadata"].get("color"), h["ContentType"]), ("blue", "application/x-test"), "COPY metadata")
    eq(s3.get_object(Bucket=b, Key="copy/same-meta")["Body"].read(), body, "copied bytes")
    # REPLACE
    s3.copy_object(Bucket=b, Key="copy/new-meta", CopySource=src, MetadataDirective="REPLACE",
                   Metadata={"shape": "round"}, ContentType="text/x-new")
    h = s3.head_object(Bucket=b, Key="copy/new-meta")
    eq(h["Metadata"].get("shape"), "round", "REPLACE: new metadata")
    check("color" not in h["Metadata"], "REPLACE kept the old metadata")
    eq(h["ContentType"], "text/x-new", "REPLACE: new Content-Type")
    eq(h["ETag"], etag, "REPLACE: same ETag")
    # Onto itself: needs REPLACE (how rclone and s3fs change metadata).
    expect_error("InvalidRequest", s3.copy_object, Bucket=b, Key="copy/new-meta",
                 CopySource={"Bucket": b, "Key": "copy/new-meta"}, status=400)
    s3.copy_object(Bucket=b, Key="copy/new-meta", CopySource={"Bucket": b, "Key": "copy/new-meta"},
                   MetadataDirective="REPLACE", Metadata={"mtime": "1700000000"})
    h = s3.head_object(Bucket=b, Key="copy/new-meta")
    eq(h["Metadata"].get("mtime"), "1700000000", "self-copy REPLACE: metadata changed")
    check("shape" not in h["Metadata"], "self-copy REPLACE kept old metadata")
    eq(s3.get_object(Bucket=b, Key="copy/new-meta")["Body"].read(), body, "self-copy keeps bytes")
    # Across buckets, and with a special-character source key.
    s3.copy_object(Bucket="bt-plain", Key="from-other", CopySource=src)
    eq(s3.get_object(Bucket="bt-plain", Key="from-other")["Body"].read(), body, "cross-bucket copy")
    s3.delete_object(Bucket="bt-plain", Key="from-other")
    # copy-source conditions
    lm = s3.head_object(**src)["LastModified"]
    past, future = lm - datetime.timedelta(hours=1), lm + datetime.timedelta(hours=1)
    s3.copy_object(Bucket=b, Key="copy/c", CopySource=src, CopySourceIfMatch=etag)
    s3.copy_object(Bucket=b, Key="copy/c", CopySource=src, CopySourceIfNoneMatch='"0123"')
    s3.copy_object(Bucket=b, Key="copy/c", CopySource=src, CopySourceIfModifiedSince=past)
    s3.copy_object(Bucket=b, Key="copy/c", CopySource=src, CopySourceIfUnmodifiedSince=future)
    for kw in ({"CopySourceIfMatch": '"0123"'}, {"CopySourceIfNoneMatch": etag},
               {"CopySourceIfModifiedSince": future}, {"CopySourceIfUnmodifiedSince": past}):
        expect_error("PreconditionFailed", s3.copy_object, Bucket=b, Key="copy/d", CopySource=src,
                     status=412, **kw)
    expect_error("NoSuchKey", s3.get_object, Bucket=b, Key="copy/d")
    expect_error("NoSuchKey", s3.copy_object, Bucket=b, Key="copy/e",
                 CopySource={"Bucket": b, "Key": "missing"}, status=404)
    expect_error("NoSuchBucket", s3.copy_object, Bucket=b, Key="copy/e",
                 CopySource={"Bucket": "bt-missing", "Key": "x"}, status=404)


def test_multipart(b):
    part1 = data("mp1", 5 * MiB)
    part3 = data("mp3", 123_457)
    src = data("mp-src", 6 * MiB)
    s3.put_object(Bucket=b, Key="mp/src", Body=src)
    key = "mp/obj ünï+1"
    up = s3.create_multipart_upload(Bucket=b, Key=key, Metadata={"kind": "multipart"},
                                    ContentType="application/x-mp")
    uid = up["UploadId"]
    r1 = s3.upload_part(Bucket=b, Key=key, UploadId=uid, PartNumber=1, Body=part1)
    eq(r1["ETag"], f'"{md5(part1)}"', "UploadPart ETag")
    r2 = s3.upload_part_copy(Bucket=b, Key=key, UploadId=uid, PartNumber=2,
                             CopySource={"Bucket": b, "Key": "mp/src"},
                             CopySourceRange=f"bytes={MiB}-{6 * MiB - 1}")
    part2 = src[MiB:6 * MiB]
    eq(r2["CopyPartResult"]["ETag"], f'"{md5(part2)}"', "UploadPartCopy ETag")
    src_etag = s3.head_object(Bucket=b, Key="mp/src")["ETag"]
    expect_error("PreconditionFailed", s3.upload_part_copy, Bucket=b, Key=key, UploadId=uid,
                 PartNumber=5, CopySource={"Bucket": b, "Key": "mp/src"},
                 CopySourceIfNoneMatch=src_etag, status=412)
    s3.upload_part_copy(Bucket=b, Key=key, UploadId=uid, PartNumber=5, CopySourceIfMatch=src_etag,
                        CopySource={"Bucket": b, "Key": "mp/src"}, CopySourceRange="bytes=0-9")
    # A part uploaded again replaces the earlier one.
    s3.upload_part(Bucket=b, Key=key, UploadId=uid, PartNumber=3, Body=b"to be replaced")
    r3 = s3.upload_part(Bucket=b, Key=key, UploadId=uid, PartNumber=3, Body=part3,
                        ContentMD5=base64.b64encode(hashlib.md5(part3).digest()).decode())
    expect_error("BadDigest", s3.upload_part, Bucket=b, Key=key, UploadId=uid, PartNumber=4,
                 Body=part3, ContentMD5=base64.b64encode(hashlib.md5(b"x").digest()).decode())
    expect_error("InvalidArgument", s3.upload_part_copy, Bucket=b, Key=key, UploadId=uid,
                 PartNumber=4, CopySource={"Bucket": b, "Key": "mp/src"},
                 CopySourceRange=f"bytes=0-{6 * MiB}", status=400)
    # ListParts (paged) and ListMultipartUploads.
    lp = s3.list_parts(Bucket=b, Key=key, UploadId=uid)
    eq([(p["PartNumber"], p["Size"], p["ETag"]) for p in lp["Parts"]],
       [(1, len(part1), r1["ETag"]), (2, len(part2), r2["CopyPartResult"]["ETag"]),
        (3, len(part3), r3["ETag"]), (5, 10, f'"{md5(src[:10])}"')], "ListParts")
    lp = s3.list_parts(Bucket=b, Key=key, UploadId=uid, MaxParts=2)
    check(lp["IsTruncated"] and lp["NextPartNumberMarker"] == 2, f"ListParts paging: {lp}")
    lp = s3.list_parts(Bucket=b, Key=key, UploadId=uid, PartNumberMarker=2)
    eq([p["PartNumber"] for p in lp["Parts"]], [3, 5], "ListParts after a marker")
    other = s3.create_multipart_upload(Bucket=b, Key="mp/other")["UploadId"]
    ups = s3.list_multipart_uploads(Bucket=b)
    eq(sorted((u["Key"], u["UploadId"]) for u in ups.get("Uploads", [])),
       sorted([(key, uid), ("mp/other", other)]), "ListMultipartUploads")
    ups = s3.list_multipart_uploads(Bucket=b, Prefix="mp/ot")
    eq([u["Key"] for u in ups.get("Uploads", [])], ["mp/other"], "ListMultipartUploads prefix")
    # Abort
    s3.abort_multipart_upload(Bucket=b, Key="mp/other", UploadId=other)
    expect_error("NoSuchUpload", s3.list_parts, Bucket=b, Key="mp/other", UploadId=other, status=404)
    expect_error("NoSuchUpload", s3.upload_part, Bucket=b, Key="mp/other", UploadId=other,
                 PartNumber=1, Body=b"x", status=404)
    ups = s3.list_multipart_uploads(Bucket=b)
    eq([u["Key"] for u in ups.get("Uploads", [])], [key], "aborted upload gone")
    # Complete: wrong ETag, wrong order, then right.
    good = [{"PartNumber": 1, "ETag": r1["ETag"]},
            {"PartNumber": 2, "ETag": r2["CopyPartResult"]["ETag"]},
            {"PartNumber": 3, "ETag": r3["ETag"]}]
    bad = [dict(p) for p in good]
    bad[1]["ETag"] = '"00000000000000000000000000000000"'
    expect_error("InvalidPart", s3.complete_multipart_upload, Bucket=b, Key=key, UploadId=uid,
                 MultipartUpload={"Parts": bad}, status=400)
    expect_error("InvalidPartOrder", s3.complete_multipart_upload, Bucket=b, Key=key, UploadId=uid,
                 MultipartUpload={"Parts": [good[1], good[0], good[2]]}, status=400)
    expect_error("InvalidPart", s3.complete_multipart_upload, Bucket=b, Key=key, UploadId=uid,
                 MultipartUpload={"Parts": good + [{"PartNumber": 7, "ETag": r3["ETag"]}]})
    r = s3.complete_multipart_upload(Bucket=b, Key=key, UploadId=uid, MultipartUpload={"Parts": good})
    whole = part1 + part2 + part3
    eq(r["ETag"], f'"{multipart_etag([part1, part2, part3])}"', "multipart ETag md5-of-md5s-N")
    g = s3.get_object(Bucket=b, Key=key)
    eq(g["Body"].read(), whole, "completed multipart bytes")
    eq(g["ETag"], r["ETag"], "GET ETag of a multipart object")
    eq((g["Metadata"].get("kind"), g["ContentType"]), ("multipart", "application/x-mp"),
       "multipart metadata")
    check(is_cid(g["Metadata"].get("ipfs-cid")), "multipart object CID")
    h = s3.put_object(Bucket=b, Key="mp/single", Body=whole)
    eq(headers_of(h)["x-amz-meta-ipfs-cid"], g["Metadata"]["ipfs-cid"],
       "multipart and single PUT of the same bytes give the same CID")
    expect_error("NoSuchUpload", s3.complete_multipart_upload, Bucket=b, Key=key, UploadId=uid,
                 MultipartUpload={"Parts": good}, status=404)
    # EntityTooSmall: a part before the last under 5 MiB.
    uid = s3.create_multipart_upload(Bucket=b, Key="mp/small")["UploadId"]
    pa = s3.upload_part(Bucket=b, Key="mp/small", UploadId=uid, PartNumber=1, Body=b"a" * 1024)
    pb = s3.upload_part(Bucket=b, Key="mp/small", UploadId=uid, PartNumber=2, Body=b"b" * 1024)
    expect_error("EntityTooSmall", s3.complete_multipart_upload, Bucket=b, Key="mp/small",
                 UploadId=uid, status=400,
                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": pa["ETag"]},
                                            {"PartNumber": 2, "ETag": pb["ETag"]}]})
    # A single small part is fine.
    r = s3.complete_multipart_upload(Bucket=b, Key="mp/small", UploadId=uid,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": pa["ETag"]}]})
    eq(r["ETag"], f'"{multipart_etag([b"a" * 1024])}"', "one-part multipart ETag")
    eq(s3.get_object(Bucket=b, Key="mp/small")["Body"].read(), b"a" * 1024, "one-part multipart")
    # The managed transfer: upload_file / download_file (8 MiB threshold, parallel parts and ranges).
    path = os.path.join(TMP, "boto3-big")
    big = data("boto3-big", 21 * MiB + 5)
    with open(path, "wb") as f:
        f.write(big)
    s3.upload_file(path, b, "mp/big", Config=TransferConfig(max_concurrency=4))
    h = s3.head_object(Bucket=b, Key="mp/big")
    eq(h["ETag"], f'"{multipart_etag([big[i:i + 8 * MiB] for i in range(0, len(big), 8 * MiB)])}"',
       "upload_file multipart ETag")
    s3.download_file(b, "mp/big", path + ".out", Config=TransferConfig(max_concurrency=4))
    with open(path + ".out", "rb") as f:
        check(f.read() == big, "download_file bytes")
    os.remove(path)
    os.remove(path + ".out")


def test_odd_keys(b):
    """Keys that are not paths: dots, double and leading slashes, trailing slash, long keys."""
    odd = ["dots/../x", "dots/./y", "dots//double", "/leading", "dots/trailing/", "..", ".",
           "dots/" + "k" * 1019, "dots/ \u00a0nbsp", "dots/tab\tx", "dots/quest?x=1&y", "dots/semi;colon"]
    for k in odd:
        s3.put_object(Bucket=b, Key=k, Body=k.encode())
    for k in odd:
        eq(s3.get_object(Bucket=b, Key=k)["Body"].read(), k.encode(), f"GET of the key {k!r}")
        s3.head_object(Bucket=b, Key=k)
    listed = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=b):
        listed += [o["Key"] for o in page.get("Contents", [])]
    for k in odd:
        check(k in listed, f"key {k!r} not listed: {listed}")
    s3.copy_object(Bucket=b, Key="dots/copied", CopySource={"Bucket": b, "Key": "dots/../x"})
    eq(s3.get_object(Bucket=b, Key="dots/copied")["Body"].read(), b"dots/../x", "copy of a '..' key")
    expect_error("KeyTooLongError", s3.put_object, Bucket=b, Key="k" * 1025, Body=b"x", status=400)
    r = s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": k} for k in odd + ["dots/copied"]]})
    eq(sorted(d["Key"] for d in r["Deleted"]), sorted(odd + ["dots/copied"]), "DeleteObjects of odd keys")
    for k in odd:
        expect_error("NoSuchKey", s3.get_object, Bucket=b, Key=k)


def test_protocol(b, key, body):
    """Request ids, error bodies, response-* overrides, ListBuckets owner."""
    r = s3.head_object(Bucket=b, Key=key)
    check(r["ResponseMetadata"].get("RequestId"), "no x-amz-request-id on HEAD")
    e = expect_error("NoSuchKey", s3.get_object, Bucket=b, Key="nope")
    check(e.response["ResponseMetadata"].get("RequestId"), "no x-amz-request-id on an error")
    check(e.response["Error"].get("Message"), "error without a Message")
    g = s3.get_object(Bucket=b, Key=key, ResponseContentType="text/x-over",
                      ResponseContentDisposition="inline", ResponseCacheControl="max-age=5")
    eq((g["ContentType"], g["ContentDisposition"], g["CacheControl"]),
       ("text/x-over", "inline", "max-age=5"), "response-* overrides")
    eq(g["Body"].read(), body, "body with response-* overrides")
    lb = s3.list_buckets()
    check(lb.get("Owner", {}).get("ID"), f"ListBuckets without Owner: {lb.get('Owner')}")
    # Not implemented sub-resources answer NotImplemented, not something else.
    expect_error("NotImplemented", s3.get_bucket_policy, Bucket=b, status=501)
    expect_error("NotImplemented", s3.get_bucket_tagging, Bucket=b, status=501)
    expect_error("NotImplemented", s3.put_object_tagging, Bucket=b, Key=key,
                 Tagging={"TagSet": [{"Key": "a", "Value": "b"}]}, status=501)
    # GetObjectTagging: no tags (aws cli asks before every multipart copy).
    eq(s3.get_object_tagging(Bucket=b, Key=key)["TagSet"], [], "GetObjectTagging")
    expect_error("NoSuchKey", s3.get_object_tagging, Bucket=b, Key="nope", status=404)


def test_access(b):
    other = client(KEY2, SECRET2)
    names = [x["Name"] for x in other.list_buckets()["Buckets"]]
    check(b not in names, f"the second key sees the first key's bucket: {names}")
    expect_error("AccessDenied", other.get_object, Bucket=b, Key="empty", status=403)
    expect_error("AccessDenied", other.put_object, Bucket=b, Key="intruder", Body=b"x", status=403)
    expect_error("AccessDenied", other.list_objects_v2, Bucket=b, status=403)
    expect_error("AccessDenied", other.delete_object, Bucket=b, Key="empty", status=403)
    expect_error("AccessDenied", other.delete_bucket, Bucket=b, status=403)
    expect_error("AccessDenied", other.copy_object, Bucket="bt-plain", Key="stolen",
                 CopySource={"Bucket": b, "Key": "empty"}, status=403)
    expect_error("403", other.head_bucket, Bucket=b)
    expect_error("403", other.head_object, Bucket=b, Key="empty")
    expect_error("BucketAlreadyExists", other.create_bucket, Bucket=b, status=409)
    other.create_bucket(Bucket="bt-other")
    other.put_object(Bucket="bt-other", Key="mine", Body=b"mine")
    expect_error("AccessDenied", s3.get_object, Bucket="bt-other", Key="mine", status=403)
    other.delete_object(Bucket="bt-other", Key="mine")
    other.delete_bucket(Bucket="bt-other")
    s3.get_object(Bucket=b, Key="empty")  # still there
    expect_error("SignatureDoesNotMatch", client(KEY, SECRET + "x").list_buckets, status=403)
    expect_error("InvalidAccessKeyId", client("nosuchkey", SECRET).list_buckets, status=403)
    anon = boto3.session.Session().client(
        "s3", endpoint_url=ENDPOINT, region_name="us-east-1",
        config=Config(signature_version=botocore.UNSIGNED, s3={"addressing_style": "path"},
                      retries={"max_attempts": 1}))
    expect_error("AccessDenied", anon.get_object, Bucket=b, Key="empty", status=403)


def main():
    test_buckets(); log("buckets ok")
    b = "bt-main"
    s3.create_bucket(Bucket=b)
    key, body = test_put_get_head(b); log("put/get/head, metadata, checksums, presigned ok")
    test_ranges(b, key, body); log("ranges ok")
    test_conditionals(b, key, body); log("conditional requests ok")
    keys = test_listing(b); log("listing V1/V2/versions ok")
    test_delete_objects(b, keys); log("DeleteObjects ok")
    test_copy(b, key, body); log("copy ok")
    test_multipart(b); log("multipart ok")
    test_odd_keys(b); log("odd keys ok")
    test_protocol(b, key, body); log("request ids, overrides, NotImplemented ok")
    test_access(b); log("access control ok")
    log("PASS")


if __name__ == "__main__":
    try:
        main()
    except Fail as e:
        print(f"[boto3] FAIL: {e}", file=sys.stderr)
        sys.exit(1)
