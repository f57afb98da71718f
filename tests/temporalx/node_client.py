#!/usr/bin/python3
"""Independent TemporalX client test of `s3xfs node` (run by tests/temporalx/node.sh).

Talks to a real `s3xfs node` over gRPC with grpcio's generic API and stubs that protoc generated
from proto/temporalx.proto (no grpc_tools, no s3xfs code). Everything the node answers is checked
against values computed here: CIDs (sha2-256, base32 CIDv1, base58 CIDv0), dag-pb and UnixFS
encodings (a small balanced-layout builder with dag-pb leaves, as
`ipfs add --cid-version=1 --raw-leaves=false` builds files), sizes and byte ranges.

usage: node_client.py S3XFS_BINARY STUBS_DIR WORK_DIR
"""

import hashlib
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

import grpc

S3XFS, STUBS, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, STUBS)
import temporalx_pb2 as pb  # noqa: E402  (generated at test time)

TEST = "node"  # as tests/cli/lib.sh names node.sh
MIB = 1 << 20


def log(msg):
    print(f"[{TEST}] {msg}", flush=True)


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)
    log(f"  ok: {msg}")


def check_eq(got, want, msg):
    if got != want:
        g, w = repr(got), repr(want)
        raise Failure(f"{msg}: got {g[:300]}, expected {w[:300]}")
    log(f"  ok: {msg}")


# ---------------------------------------------------------------- multiformats, by hand

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
B32 = "abcdefghijklmnopqrstuvwxyz234567"
RAW, DAG_PB = 0x55, 0x70


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def base32_lower(b):
    bits, nbits, out = 0, 0, []
    for byte in b:
        bits = (bits << 8) | byte
        nbits += 8
        while nbits >= 5:
            nbits -= 5
            out.append(B32[(bits >> nbits) & 31])
    if nbits:
        out.append(B32[(bits << (5 - nbits)) & 31])
    return "".join(out)


def base58(b):
    n = int.from_bytes(b, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = B58[r] + out
    return "1" * (len(b) - len(b.lstrip(b"\0"))) + out


def multihash(block):
    return bytes([0x12, 0x20]) + hashlib.sha256(block).digest()


def cid_v1_bytes(codec, block):
    return varint(1) + varint(codec) + multihash(block)


def cid_v1(codec, block):
    return "b" + base32_lower(cid_v1_bytes(codec, block))


def cid_v0(block):
    return base58(multihash(block))


def cid_v1_of_mh(codec, mh):
    return "b" + base32_lower(varint(1) + varint(codec) + mh)


def pb_bytes(num, b):
    return varint(num << 3 | 2) + varint(len(b)) + b


def pb_varint(num, v):
    return varint(num << 3) + varint(v)


def pb_link(cid_bin, name, tsize):
    return pb_bytes(1, cid_bin) + pb_bytes(2, name.encode()) + pb_varint(3, tsize)


def pb_node(links, data):
    """dag-pb: links (sorted by the caller) first, then Data (absent when None)."""
    out = b"".join(pb_bytes(2, link) for link in links)
    if data is not None:
        out += pb_bytes(1, data)
    return out


def unixfs_file(data, filesize, blocksizes=()):
    out = pb_varint(1, 2)  # Type = File
    if data:
        out += pb_bytes(2, data)
    out += pb_varint(3, filesize)
    for s in blocksizes:
        out += pb_varint(4, s)
    return out


def reference_file_root(content, chunk=262144, max_links=174):
    """Root CID (CIDv1 dag-pb) of `content` as ipfs add --cid-version=1 --raw-leaves=false
    builds it: dag-pb UnixFS File leaves, balanced layout. Returns (cid, blocks) where blocks
    maps cid string -> block bytes."""
    blocks = {}
    level = []  # (cid bytes, file bytes, tsize)
    pieces = [content[i:i + chunk] for i in range(0, len(content), chunk)] or [b""]
    for p in pieces:
        leaf = pb_node([], unixfs_file(p, len(p)))
        blocks[cid_v1(DAG_PB, leaf)] = leaf
        level.append((cid_v1_bytes(DAG_PB, leaf), len(p), len(leaf)))
    while len(level) > 1:
        parents = []
        for i in range(0, len(level), max_links):
            group = level[i:i + max_links]
            size = sum(g[1] for g in group)
            node = pb_node([pb_link(g[0], "", g[2]) for g in group],
                           unixfs_file(b"", size, [g[1] for g in group]))
            blocks[cid_v1(DAG_PB, node)] = node
            parents.append((cid_v1_bytes(DAG_PB, node), size, len(node) + sum(g[2] for g in group)))
        level = parents
    return "b" + base32_lower(level[0][0]), blocks


def flatfs_path(data_dir, block):
    """Where the embedded store keeps a block (docs/FORMATS.md)."""
    import base64
    key = base64.b32encode(multihash(block)).decode().rstrip("=")
    return os.path.join(data_dir, "blocks", key[-3:-1], key + ".data")


# ---------------------------------------------------------------- the node process

class Node:
    def __init__(self, data_dir, extra_args=(), tls_root=None):
        self.data_dir = data_dir
        self.lines = []
        self.proc = subprocess.Popen(
            [S3XFS, "node", "--data-dir", data_dir, "--listen", "127.0.0.1:0", *extra_args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.address = None
        ready = threading.Event()

        def drain():
            for line in self.proc.stderr:
                self.lines.append(line.rstrip("\n"))
                m = re.search(r"TemporalX node listening on (\S+)", line)
                if m:
                    self.address = m.group(1)
                    ready.set()
            ready.set()

        self.thread = threading.Thread(target=drain, daemon=True)
        self.thread.start()
        if not ready.wait(30) or self.address is None:
            self.kill()
            raise Failure("node did not start: " + " | ".join(self.lines))
        opts = [("grpc.max_receive_message_length", 64 * MIB),
                ("grpc.max_send_message_length", 64 * MIB)]
        if tls_root is None:
            self.channel = grpc.insecure_channel(self.address, options=opts)
        else:
            creds = grpc.ssl_channel_credentials(root_certificates=tls_root)
            self.channel = grpc.secure_channel(self.address, creds, options=opts)
        grpc.channel_ready_future(self.channel).result(timeout=30)

    def unary(self, path, req_type, resp_type):
        return self.channel.unary_unary(path, request_serializer=req_type.SerializeToString,
                                        response_deserializer=resp_type.FromString)

    def stop(self):
        self.channel.close()
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(30)
        self.thread.join(5)
        check_eq(rc, 0, "node exits 0 on SIGTERM")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class Api:
    """The TemporalX methods, through the generic gRPC API."""

    def __init__(self, node):
        n = node
        self.node = node
        self.bs = n.unary("/pb.NodeAPI/Blockstore", pb.BlockstoreRequest, pb.BlockstoreResponse)
        self.dag = n.unary("/pb.NodeAPI/Dag", pb.DagRequest, pb.DagResponse)
        self.persist = n.unary("/pb.NodeAPI/Persist", pb.PersistRequest, pb.PersistResponse)
        self.refcount = n.unary("/pb.AdminAPI/RefCount", pb.RefCountRequest, pb.RefCountResponse)
        self.gc = n.unary("/pb.AdminAPI/ManageGC", pb.ManageGCRequest, pb.ManageGCResponse)
        self.version = n.unary("/pb.StatusAPI/Version", pb.Empty, pb.VersionResponse)
        self.status = n.unary("/pb.StatusAPI/Status", pb.Empty, pb.StatusResponse)
        self.bs_stream = n.channel.stream_stream(
            "/pb.NodeAPI/BlockstoreStream", request_serializer=pb.BlockstoreRequest.SerializeToString,
            response_deserializer=pb.BlockstoreResponse.FromString)
        self.upload_call = n.channel.stream_unary(
            "/pb.FileAPI/UploadFile", request_serializer=pb.UploadRequest.SerializeToString,
            response_deserializer=pb.PutResponse.FromString)
        self.download_call = n.channel.unary_stream(
            "/pb.FileAPI/DownloadFile", request_serializer=pb.DownloadRequest.SerializeToString,
            response_deserializer=pb.DownloadResponse.FromString)

    def put_many(self, datas):
        r = self.bs(pb.BlockstoreRequest(requestType=pb.BS_PUT_MANY, data=datas, cidVersion="v1"),
                    timeout=60)
        return [b.cid for b in r.blocks], r

    def get_many(self, cids):
        r = self.bs(pb.BlockstoreRequest(requestType=pb.BS_GET_MANY, cids=cids), timeout=60)
        return [b.data for b in r.blocks]

    def has(self, cids):
        r = self.bs(pb.BlockstoreRequest(requestType=pb.BS_HAS, cids=cids), timeout=60)
        return [b.cid for b in r.blocks]

    def delete(self, cids, force=False):
        opts = [pb.BS_FORCE] if force else []
        return self.bs(pb.BlockstoreRequest(requestType=pb.BS_DELETE, cids=cids, reqOpts=opts),
                       timeout=60)

    def counts(self, cids):
        return dict(self.refcount(pb.RefCountRequest(cids=cids), timeout=60).cids)

    def upload(self, content, piece=65536, options=None):
        def messages():
            first = True
            for i in range(0, max(len(content), 1), piece):
                m = pb.UploadRequest(blob=pb.Blob(content=content[i:i + piece]))
                if first and options is not None:
                    m.options.CopyFrom(options)
                first = False
                yield m
        return self.upload_call(messages(), timeout=120).hash

    def download(self, cid, **kw):
        return list(self.download_call(pb.DownloadRequest(hash=cid, **kw), timeout=120))


def expect_error(code, fn, what, contains=None):
    try:
        fn()
    except grpc.RpcError as e:
        if e.code() != code:
            raise Failure(f"{what}: got {e.code()} ({e.details()}), expected {code}")
        if contains is not None and contains not in (e.details() or ""):
            raise Failure(f"{what}: error message {e.details()!r} does not mention {contains!r}")
        log(f"  ok: {what} -> {code.name}: {e.details()}")
        return e
    raise Failure(f"{what}: succeeded, expected {code}")


# ---------------------------------------------------------------- the checks

def test_status(api):
    log("StatusAPI")
    v = api.version(pb.Empty(), timeout=10).version
    check(v.startswith("s3xfs-node "), f"Version is 's3xfs-node <version>' ({v})")
    s = api.status(pb.Empty(), timeout=10)
    check_eq(s.host, api.node.address, "Status.host is the listen address")
    check_eq(s.status, pb.ONLINE, "Status.status is ONLINE")


def test_blockstore(api, rng):
    log("Blockstore: put, get, has, stats, get-all")
    datas = [b"alpha", b"beta", b"", rng.randbytes(100000)]
    cids, resp = api.put_many(datas)
    check_eq(cids, [cid_v1(RAW, d) for d in datas], "BS_PUT_MANY answers the CIDv1 raw of each block, in order")
    check(all(b.data == b"" for b in resp.blocks), "BS_PUT_MANY answers carry no data")
    check_eq(resp.requestType, pb.BS_PUT_MANY, "answer requestType")
    check_eq(api.get_many(cids), datas, "BS_GET_MANY returns the bytes")
    one = api.bs(pb.BlockstoreRequest(requestType=pb.BS_GET, cids=[cids[0]]), timeout=10)
    check_eq(one.blocks[0].data, b"alpha", "BS_GET returns the bytes")
    # Keyed by multihash: the same hash under CIDv1 dag-pb and CIDv0 names the same block.
    mh = multihash(b"alpha")
    other = [cid_v1_of_mh(DAG_PB, mh), base58(mh)]
    check_eq(api.get_many(other), [b"alpha", b"alpha"], "blocks are found by multihash under other CID versions")

    absent = cid_v1(RAW, b"never stored")
    check_eq(api.has([cids[1], absent, cids[3]]), [cids[1], cids[3]], "BS_HAS lists the present CIDs only")
    st = api.bs(pb.BlockstoreRequest(requestType=pb.BS_GET_STATS, cids=cids), timeout=10)
    check_eq([(b.cid, b.size) for b in st.blocks], [(c, len(d)) for c, d in zip(cids, datas)],
             "BS_GET_STATS reports each block's size")
    alls = api.bs(pb.BlockstoreRequest(requestType=pb.BS_GET_ALL), timeout=10)
    check(set(cids) <= {b.cid for b in alls.blocks}, "BS_GET_ALL lists the stored blocks as CIDv1 raw")
    check(all(b.data == b"" for b in alls.blocks), "BS_GET_ALL sends CIDs only")
    api.bs(pb.BlockstoreRequest(requestType=pb.BS_HASH_ON_READ_ENABLE), timeout=10)
    log("  ok: BS_HASH_ON_READ_ENABLE accepted")

    log("Blockstore: errors")
    expect_error(grpc.StatusCode.NOT_FOUND,
                 lambda: api.bs(pb.BlockstoreRequest(requestType=pb.BS_GET, cids=[absent]), timeout=10),
                 "BS_GET of a missing block", contains=absent)
    expect_error(grpc.StatusCode.NOT_FOUND, lambda: api.get_many([cids[0], absent]),
                 "BS_GET_MANY with one missing block", contains=absent)
    expect_error(grpc.StatusCode.NOT_FOUND,
                 lambda: api.bs(pb.BlockstoreRequest(requestType=pb.BS_GET_STATS, cids=[absent]), timeout=10),
                 "BS_GET_STATS of a missing block", contains=absent)
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, lambda: api.get_many(["not-a-cid"]),
                 "BS_GET_MANY of a malformed CID", contains="not-a-cid")
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, lambda: api.has(["bafyXYZ!"]),
                 "BS_HAS of a malformed CID", contains="bafyXYZ!")
    expect_error(grpc.StatusCode.INVALID_ARGUMENT,
                 lambda: api.bs(pb.BlockstoreRequest(requestType=pb.BS_PUT_MANY, data=[b"x"],
                                                     hashFunc="sha3-512"), timeout=10),
                 "BS_PUT_MANY with hashFunc sha3-512", contains="sha3-512")
    expect_error(grpc.StatusCode.INVALID_ARGUMENT,
                 lambda: api.bs(pb.BlockstoreRequest(requestType=pb.BS_PUT, data=[b"x"],
                                                     cidVersion="v0"), timeout=10),
                 "BS_PUT with cidVersion v0 (raw data has no CIDv0)", contains="v0")
    check_eq(api.has([cid_v1(RAW, b"x")]), [], "refused puts stored nothing")

    log("Blockstore: a corrupted block file is never handed out")
    victim = b"this block will be corrupted on disk"
    vcid = api.put_many([victim])[0][0]
    path = flatfs_path(api.node.data_dir, victim)
    check(os.path.exists(path), "block file is where docs/FORMATS.md says")
    with open(path, "r+b") as f:
        f.write(b"T")  # same size, one byte changed
    expect_error(grpc.StatusCode.DATA_LOSS, lambda: api.get_many([vcid]), "BS_GET_MANY of a corrupted block",
                 contains=vcid)
    os.unlink(path)
    api.put_many([victim])  # heal (the block file is rewritten)
    check_eq(api.get_many([vcid]), [victim], "re-put block reads back")
    return cids, datas


def test_refcounts(api):
    log("Blockstore: reference counts")
    x = b"refcounted block X"
    cx = cid_v1(RAW, x)
    api.bs(pb.BlockstoreRequest(requestType=pb.BS_PUT, data=[x]), timeout=10)
    api.bs(pb.BlockstoreRequest(requestType=pb.BS_PUT, data=[x]), timeout=10)
    check_eq(api.counts([cx]), {cx: 2}, "put twice -> count 2")
    api.delete([cx])
    check_eq(api.has([cx]), [cx], "delete once -> still present")
    check_eq(api.counts([cx]), {cx: 1}, "delete once -> count 1")
    api.delete([cx])
    check_eq(api.has([cx]), [], "delete again -> gone")
    check_eq(api.counts([cx]), {cx: 0}, "delete again -> count 0")
    check(not os.path.exists(flatfs_path(api.node.data_dir, x)), "the block file is removed")
    expect_error(grpc.StatusCode.NOT_FOUND, lambda: api.delete([cx]), "delete of a gone block", contains=cx)

    y = b"refcounted block Y"
    cy = cid_v1(RAW, y)
    api.put_many([y, y, y])
    check_eq(api.counts([cy]), {cy: 3}, "BS_PUT_MANY of one block thrice -> count 3")
    api.delete([cy], force=True)
    check_eq((api.has([cy]), api.counts([cy])), ([], {cy: 0}), "BS_FORCE deletes regardless of the count")

    z = b"refcounted block Z"
    cz = cid_v1(RAW, z)
    api.put_many([z])
    expect_error(grpc.StatusCode.NOT_FOUND, lambda: api.delete([cz, cid_v1(RAW, b"unknown")]),
                 "delete naming an unknown CID")
    check_eq((api.has([cz]), api.counts([cz])), ([cz], {cz: 1}), "a failed delete changes nothing")
    return cz


def test_stream(api):
    log("BlockstoreStream")
    reqs = [pb.BlockstoreRequest(requestType=pb.BS_PUT_MANY, data=[b"s1", b"s2"]),
            pb.BlockstoreRequest(requestType=pb.BS_GET_MANY, cids=[cid_v1(RAW, b"s2")]),
            pb.BlockstoreRequest(requestType=pb.BS_HAS, cids=[cid_v1(RAW, b"s1"), cid_v1(RAW, b"nope")])]
    out = list(api.bs_stream(iter(reqs), timeout=30))
    check_eq([r.requestType for r in out], [pb.BS_PUT_MANY, pb.BS_GET_MANY, pb.BS_HAS], "one answer per request, in order")
    check_eq([b.cid for b in out[0].blocks], [cid_v1(RAW, b"s1"), cid_v1(RAW, b"s2")], "stream put CIDs")
    check_eq(out[1].blocks[0].data, b"s2", "stream get bytes")
    check_eq([b.cid for b in out[2].blocks], [cid_v1(RAW, b"s1")], "stream has")
    bad = [pb.BlockstoreRequest(requestType=pb.BS_HAS, cids=[cid_v1(RAW, b"s1")]),
           pb.BlockstoreRequest(requestType=pb.BS_GET, cids=[cid_v1(RAW, b"nope")])]

    def run_bad():
        got = []
        for r in api.bs_stream(iter(bad), timeout=30):
            got.append(r)
        return got
    expect_error(grpc.StatusCode.NOT_FOUND, run_bad, "a failing request ends the stream with its status")


def test_dag(api):
    log("Dag")
    raw = b"dag raw block"
    r = api.dag(pb.DagRequest(requestType=pb.DAG_PUT, data=raw), timeout=10)
    check_eq(list(r.hashes), [cid_v1(RAW, raw)], "DAG_PUT without encoding -> CIDv1 raw")
    g = api.dag(pb.DagRequest(requestType=pb.DAG_GET, hash=cid_v1(RAW, raw)), timeout=10)
    check_eq(g.rawData, raw, "DAG_GET returns the raw block")

    leaf = pb_node([], unixfs_file(b"hello dag", 9))
    r = api.dag(pb.DagRequest(requestType=pb.DAG_PUT, data=leaf, objectEncoding="protobuf",
                              serializationFormat="protobuf", cidVersion=1), timeout=10)
    leaf_cid = cid_v1(DAG_PB, leaf)
    check_eq(list(r.hashes), [leaf_cid], "DAG_PUT protobuf cidVersion 1 -> CIDv1 dag-pb")
    r = api.dag(pb.DagRequest(requestType=pb.DAG_PUT, data=leaf, objectEncoding="protobuf",
                              serializationFormat="protobuf", cidVersion=0), timeout=10)
    check_eq(list(r.hashes), [cid_v0(leaf)], "DAG_PUT protobuf cidVersion 0 -> CIDv0")
    check_eq(api.counts([leaf_cid]), {leaf_cid: 2}, "each DAG_PUT adds a reference")
    g = api.dag(pb.DagRequest(requestType=pb.DAG_GET, hash=cid_v0(leaf)), timeout=10)
    check_eq(g.rawData, leaf, "DAG_GET of the CIDv0")
    expect_error(grpc.StatusCode.INVALID_ARGUMENT,
                 lambda: api.dag(pb.DagRequest(requestType=pb.DAG_PUT, data=b"\xff\xff\xff",
                                               objectEncoding="protobuf"), timeout=10),
                 "DAG_PUT protobuf of bytes that are not dag-pb", contains="dag-pb")
    expect_error(grpc.StatusCode.UNIMPLEMENTED,
                 lambda: api.dag(pb.DagRequest(requestType=pb.DAG_PUT, data=b"{}", objectEncoding="cbor"), timeout=10),
                 "DAG_PUT cbor", contains="cbor")
    expect_error(grpc.StatusCode.INVALID_ARGUMENT,
                 lambda: api.dag(pb.DagRequest(requestType=pb.DAG_PUT, data=b"x", objectEncoding="xml"), timeout=10),
                 "DAG_PUT of an unknown encoding", contains="xml")

    log("Dag: nodes and links")
    alpha_cid = cid_v1(RAW, b"alpha")  # stored by test_blockstore
    data = b"\x08\x01"  # UnixFS Directory, though the node does not care
    r = api.dag(pb.DagRequest(requestType=pb.DAG_NEW_NODE, data=data, cidVersion=1,
                              links={"b-alpha": alpha_cid, "a-leaf": leaf_cid}), timeout=10)
    links_ab = [pb_link(cid_v1_bytes(DAG_PB, leaf), "a-leaf", len(leaf)),
                pb_link(cid_v1_bytes(RAW, b"alpha"), "b-alpha", 5)]
    node1 = pb_node(links_ab, data)
    node1_cid = cid_v1(DAG_PB, node1)
    check_eq(list(r.hashes), [node1_cid], "DAG_NEW_NODE builds the dag-pb node (links sorted by name, Tsizes)")
    check_eq(api.dag(pb.DagRequest(requestType=pb.DAG_GET, hash=node1_cid), timeout=10).rawData, node1,
             "DAG_GET of the new node gives its exact bytes")

    r = api.dag(pb.DagRequest(requestType=pb.DAG_ADD_LINKS, hash=node1_cid,
                              links={"0-first": cid_v1(RAW, raw)}), timeout=10)
    node2 = pb_node([pb_link(cid_v1_bytes(RAW, raw), "0-first", len(raw))] + links_ab, data)
    node2_cid = cid_v1(DAG_PB, node2)
    check_eq(list(r.hashes), [node2_cid], "DAG_ADD_LINKS stores the node plus the link, sorted")

    gl = api.dag(pb.DagRequest(requestType=pb.DAG_GET_LINKS, hash=node2_cid), timeout=10)
    check_eq([(l.hash, l.name, l.size) for l in gl.links],
             [(multihash(raw), "0-first", len(raw)), (multihash(leaf), "a-leaf", len(leaf)),
              (multihash(b"alpha"), "b-alpha", 5)],
             "DAG_GET_LINKS: multihash bytes, names, Tsizes")
    gl = api.dag(pb.DagRequest(requestType=pb.DAG_GET_LINKS, hash=alpha_cid), timeout=10)
    check_eq(len(gl.links), 0, "DAG_GET_LINKS of a raw block: no links")

    stat = api.dag(pb.DagRequest(requestType=pb.DAG_STAT, hash=node2_cid), timeout=10).nodeStats
    s = stat[node2_cid]
    tsizes = len(raw) + len(leaf) + 5
    check_eq((s.numLinks, s.blockSize, s.dataSize, s.linkSize, s.cumulativeSize),
             (3, len(node2), len(data), len(node2) - len(data), len(node2) + tsizes),
             "DAG_STAT numLinks, blockSize, dataSize, linkSize, cumulativeSize")
    # A node linking to node2 carries node2's cumulative size as Tsize.
    r = api.dag(pb.DagRequest(requestType=pb.DAG_NEW_NODE, cidVersion=0, links={"n": node2_cid}), timeout=10)
    node3 = pb_node([pb_link(cid_v1_bytes(DAG_PB, node2), "n", len(node2) + tsizes)], None)
    check_eq(list(r.hashes), [cid_v0(node3)], "DAG_NEW_NODE cidVersion 0, no data, Tsize = cumulative size")
    expect_error(grpc.StatusCode.NOT_FOUND,
                 lambda: api.dag(pb.DagRequest(requestType=pb.DAG_NEW_NODE,
                                               links={"x": cid_v1(RAW, b"missing link")}), timeout=10),
                 "DAG_NEW_NODE linking to a missing block", contains=cid_v1(RAW, b"missing link"))
    expect_error(grpc.StatusCode.NOT_FOUND,
                 lambda: api.dag(pb.DagRequest(requestType=pb.DAG_GET, hash=cid_v1(RAW, b"missing")), timeout=10),
                 "DAG_GET of a missing block")
    expect_error(grpc.StatusCode.INVALID_ARGUMENT,
                 lambda: api.dag(pb.DagRequest(requestType=pb.DAG_STAT, hash="Qm-nonsense"), timeout=10),
                 "DAG_STAT of a malformed CID", contains="Qm-nonsense")


def test_persist(api, cids):
    log("Persist")
    absent = cid_v1(RAW, b"persist: absent")
    r = api.persist(pb.PersistRequest(cids=[cids[0], absent, "garbage"]), timeout=10)
    check_eq(dict(r.status), {cids[0]: True, absent: False}, "Persist status = present locally")
    check("garbage" in r.errors and "garbage" in r.errors["garbage"], "Persist errors name unparsable CIDs")


def test_upload(api, rng):
    log("UploadFile")
    vectors = {b"testobject1data": "bafybeidespqxhoavxmrq6sxcypcwatb6u3splitarmw7z46pivdhahluaa",
               b"data": "bafybeibzfoslocl3zs4fngsqminlpikibos7u664circ6mw7kjwkwa6y54"}
    for content, want in vectors.items():
        check_eq(api.upload(content), want, f"UploadFile {content!r} without options (TemporalX vector)")
        check_eq(reference_file_root(content)[0], want, f"the Python reference agrees for {content!r}")
    full = pb.UploadOptions(chunker="default", layout="balanced", multiHash="sha2-256")
    check_eq(api.upload(b"data", options=full), vectors[b"data"], "explicit default options give the same CID")
    empty_root, _ = reference_file_root(b"")
    check_eq(api.upload(b""), empty_root, "an empty file")

    three = rng.randbytes(600000)  # 3 chunks of the default chunker
    want, blocks = reference_file_root(three)
    check_eq(api.upload(three, piece=100000), want, "600000 bytes, default chunker (root + 3 dag-pb leaves)")
    counts = api.counts(list(blocks))
    check_eq(counts, {c: 1 for c in blocks}, "every block of the upload has one reference")

    two_level = rng.randbytes(200 * 1024 + 123)  # 201 chunks of 1024: two levels (174 links max)
    want, blocks = reference_file_root(two_level, chunk=1024)
    got = api.upload(two_level, piece=7777, options=pb.UploadOptions(chunker="size-1024"))
    check_eq(got, want, "size-1024 chunker, 201 leaves, two-level balanced tree")
    check_eq(api.has(list(blocks)), list(blocks), "all its blocks are stored")

    # A file that repeats one chunk: one reference per distinct block per upload.
    zeros = bytes(4096)
    want, blocks = reference_file_root(zeros, chunk=1024)
    check_eq(len(blocks), 2, "4 equal chunks: one leaf block and the root")
    api.upload(zeros, options=pb.UploadOptions(chunker="size-1024"))
    api.upload(zeros, options=pb.UploadOptions(chunker="size-1024"))
    check_eq(api.counts(list(blocks)), {c: 2 for c in blocks}, "two uploads: each distinct block counted once per upload")

    for opts, code, word in [
            (pb.UploadOptions(chunker="size-0"), grpc.StatusCode.INVALID_ARGUMENT, "size-0"),
            (pb.UploadOptions(chunker="size-1048577"), grpc.StatusCode.INVALID_ARGUMENT, "size-1048577"),
            (pb.UploadOptions(chunker="size-12x"), grpc.StatusCode.INVALID_ARGUMENT, "size-12x"),
            (pb.UploadOptions(chunker="rabin-16-32-64"), grpc.StatusCode.UNIMPLEMENTED, "rabin"),
            (pb.UploadOptions(chunker="fancy"), grpc.StatusCode.INVALID_ARGUMENT, "fancy"),
            (pb.UploadOptions(layout="trickle"), grpc.StatusCode.UNIMPLEMENTED, "trickle"),
            (pb.UploadOptions(layout="wide"), grpc.StatusCode.INVALID_ARGUMENT, "wide"),
            (pb.UploadOptions(multiHash="blake2b-256"), grpc.StatusCode.INVALID_ARGUMENT, "blake2b-256")]:
        expect_error(code, lambda: api.upload(b"options test", options=opts), f"UploadFile with {opts}".replace("\n", " "),
                     contains=word)
    check_eq(api.has([reference_file_root(b"options test")[0]]), [], "refused uploads store nothing")
    return two_level, reference_file_root(two_level, chunk=1024)[0]


def test_upload_cancelled(api, rng):
    log("UploadFile cancelled by the client: nothing counted, GC removes the staged blocks")
    content = rng.randbytes(6 * MIB)  # more than one staging batch (4 MiB) before the pause
    first_leaf = cid_v1(DAG_PB, pb_node([], unixfs_file(content[:1024], 1024)))
    go_on = threading.Event()

    def messages():
        for i in range(0, len(content), 65536):
            yield pb.UploadRequest(blob=pb.Blob(content=content[i:i + 65536]),
                                   options=pb.UploadOptions(chunker="size-1024") if i == 0 else None)
        go_on.wait(60)  # keep the stream open until cancelled

    fut = api.upload_call.future(messages(), timeout=120)
    deadline = time.time() + 30
    while not api.has([first_leaf]):
        if time.time() > deadline:
            raise Failure("the upload's first leaf never reached the store")
        time.sleep(0.05)
    log("  ok: the upload's first leaf is stored while the stream is open")
    check_eq(api.counts([first_leaf]), {first_leaf: 0}, "an unfinished upload has no references")
    fut.cancel()
    go_on.set()
    time.sleep(0.5)  # let the node see the cancellation
    check_eq(api.counts([first_leaf]), {first_leaf: 0}, "a cancelled upload counts nothing")
    return first_leaf


def test_download(api, content, root):
    log("DownloadFile")
    n = len(content)
    msgs = api.download(root, chunkSize=100000)
    check_eq(b"".join(m.blob.content for m in msgs), content, "whole file, bytes equal")
    check(all(len(m.blob.content) <= 100000 for m in msgs), "pieces are at most chunkSize")
    pos = 0
    for m in msgs:
        if m.blob.rangeStart != pos or m.blob.rangeEnd != pos + len(m.blob.content):
            raise Failure(f"piece reports [{m.blob.rangeStart}, {m.blob.rangeEnd}), expected [{pos}, {pos + len(m.blob.content)})")
        pos = m.blob.rangeEnd
    check_eq(pos, n, "pieces report contiguous ranges covering the file")

    for start, end in [(1000, 150001), (0, 1), (n - 10, 0), (12345, n + 999), (77, 77 + 1024 * 3)]:
        msgs = api.download(root, chunkSize=4096, rangeStart=start, rangeEnd=end)
        want_end = n if end == 0 or end > n else end
        got = b"".join(m.blob.content for m in msgs)
        check_eq(got, content[start:want_end], f"range [{start}, {end}) bytes")
        check_eq((msgs[0].blob.rangeStart, msgs[-1].blob.rangeEnd), (start, want_end),
                 f"range [{start}, {end}) reported as [{start}, {want_end})")
    check_eq(api.download(root, rangeStart=n), [], "rangeStart at the end: nothing")
    expect_error(grpc.StatusCode.OUT_OF_RANGE, lambda: api.download(root, rangeStart=n + 1),
                 "rangeStart past the end")
    expect_error(grpc.StatusCode.NOT_FOUND, lambda: api.download(cid_v1(DAG_PB, b"no such file")),
                 "DownloadFile of a missing root")
    small = api.download("bafybeidespqxhoavxmrq6sxcypcwatb6u3splitarmw7z46pivdhahluaa")
    check_eq(b"".join(m.blob.content for m in small), b"testobject1data", "download of the vector file")


def test_limits(api):
    log("Message limits and unknown methods")
    ok = b"\x01" * (4 * MIB - 64 * 1024)
    check_eq(api.put_many([ok])[0], [cid_v1(RAW, ok)], "a message just under 4 MiB is accepted")
    api.delete([cid_v1(RAW, ok)])
    big = b"\x02" * (4 * MIB + 1)
    expect_error(grpc.StatusCode.RESOURCE_EXHAUSTED, lambda: api.put_many([big]), "a message over 4 MiB")
    check_eq(api.has([cid_v1(RAW, big)]), [], "the oversized block was not stored")
    for path in ["/pb.NodeAPI/P2P", "/pb.NameSysAPI/NameSysResolve", "/pb.NodeAPI/NoSuchMethod"]:
        call = api.node.unary(path, pb.Empty, pb.Empty)
        expect_error(grpc.StatusCode.UNIMPLEMENTED, lambda: call(pb.Empty(), timeout=10), f"{path}")


def test_gc(api, keep, orphan_leaf):
    log("ManageGC")
    # Orphans: blocks written straight into the store (docs/FORMATS.md layout), no reference.
    orphans = [b"orphan one", b"orphan two"]
    for o in orphans:
        p = flatfs_path(api.node.data_dir, o)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(o)
    ocids = [cid_v1(RAW, o) for o in orphans]
    check_eq(api.has(ocids + [orphan_leaf]), ocids + [orphan_leaf], "unreferenced blocks are present before GC")
    first = api.gc(pb.ManageGCRequest(type=pb.GC_STATUS), timeout=10).status
    check(first.startswith("idle"), f"GC_STATUS before any run: {first!r}")
    check_eq(api.gc(pb.ManageGCRequest(type=pb.GC_START), timeout=10).status, "started", "GC_START")
    deadline = time.time() + 60
    while True:
        s = api.gc(pb.ManageGCRequest(type=pb.GC_STATUS), timeout=10).status
        if s.startswith("idle"):
            break
        if time.time() > deadline:
            raise Failure(f"GC did not finish: {s}")
        time.sleep(0.1)
    m = re.match(r"idle: last run removed (\d+) blocks", s)
    check(m is not None and int(m.group(1)) >= 3, f"GC_STATUS after the run: {s!r}")
    check_eq(api.has(ocids + [orphan_leaf]), [], "GC removed the unreferenced blocks (orphans, cancelled upload)")
    check_eq(api.has(keep), keep, "GC kept every referenced block")
    stop = api.gc(pb.ManageGCRequest(type=pb.GC_STOP), timeout=10).status
    check(stop.startswith("idle"), f"GC_STOP when idle reports the status: {stop!r}")


def test_tls_and_max_message():
    log("TLS and --max-message")
    key, cert = os.path.join(WORK, "key.pem"), os.path.join(WORK, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=60)
    with open(cert, "rb") as f:
        root = f.read()
    node = Node(os.path.join(WORK, "tls-node"),
                ["--tls-cert", cert, "--tls-key", key, "--max-message", str(6 * MIB)], tls_root=root)
    try:
        api = Api(node)
        v = api.version(pb.Empty(), timeout=10).version
        check(v.startswith("s3xfs-node "), "StatusAPI.Version over TLS")
        five = b"\x05" * (5 * MIB)
        check_eq(api.put_many([five])[0], [cid_v1(RAW, five)], "--max-message 6 MiB accepts a 5 MiB block")
        seven = b"\x07" * (7 * MIB)
        expect_error(grpc.StatusCode.RESOURCE_EXHAUSTED, lambda: api.put_many([seven]), "and refuses 7 MiB")
        plain = grpc.insecure_channel(node.address)
        call = plain.unary_unary("/pb.StatusAPI/Version", request_serializer=pb.Empty.SerializeToString,
                                 response_deserializer=pb.VersionResponse.FromString)
        expect_error(grpc.StatusCode.UNAVAILABLE, lambda: call(pb.Empty(), timeout=5),
                     "a plaintext client cannot talk to the TLS node")
        plain.close()
        node.stop()
    finally:
        node.kill()
    r = subprocess.run([S3XFS, "node", "--data-dir", os.path.join(WORK, "tls-node"), "--listen",
                        "127.0.0.1:0", "--tls-cert", cert], capture_output=True, text=True, timeout=30)
    check(r.returncode != 0 and "both" in r.stderr, f"a certificate without a key is refused: {r.stderr.strip()}")


def main():
    rng = random.Random(20240601)
    data_dir = os.path.join(WORK, "node")
    node = Node(data_dir)
    try:
        api = Api(node)
        test_status(api)
        cids, datas = test_blockstore(api, rng)
        z = test_refcounts(api)
        test_stream(api)
        test_dag(api)
        test_persist(api, cids)
        file_content, file_root = test_upload(api, rng)
        orphan_leaf = test_upload_cancelled(api, rng)
        test_download(api, file_content, file_root)
        test_limits(api)
        _, file_blocks = reference_file_root(file_content, chunk=1024)
        keep = cids + [z] + list(file_blocks)
        test_gc(api, keep, orphan_leaf)
        counts_before = api.counts(keep)

        log("Failed calls are logged, one line each")
        joined = "\n".join(node.lines)
        check(re.search(r"NodeAPI\.Blockstore BS_GET from .*: NOT_FOUND: block \S+ not found", joined) is not None,
              "a failed BS_GET is logged with method, code and message")
        check(re.search(r"FileAPI\.UploadFile from .*: UNIMPLEMENTED: .*trickle", joined) is not None,
              "a refused upload is logged")
        node.stop()

        log("Restart: blocks and reference counts persist")
        node = Node(data_dir)
        api = Api(node)
        check_eq(api.counts(keep), counts_before, "reference counts survive a restart")
        check_eq(api.get_many(cids), datas, "blocks survive a restart")
        check_eq(b"".join(m.blob.content for m in api.download(file_root)), file_content,
                 "the uploaded file downloads after a restart")
        node.stop()

        log("A daemon's data directory is refused")
        daemon_dir = os.path.join(WORK, "daemon")
        os.makedirs(daemon_dir)
        open(os.path.join(daemon_dir, "ledger.db"), "wb").close()
        r = subprocess.run([S3XFS, "node", "--data-dir", daemon_dir, "--listen", "127.0.0.1:0"],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode != 0 and "ledger.db" in r.stderr, f"node refuses it: {r.stderr.strip()}")
        check(not os.path.exists(os.path.join(daemon_dir, "blocks")), "and creates nothing there")
        test_tls_and_max_message()
    except Failure as e:
        print(f"[{TEST}] FAIL: {e}", file=sys.stderr, flush=True)
        print(f"[{TEST}] node stderr (last 20 lines):\n  " + "\n  ".join(node.lines[-20:]), file=sys.stderr)
        return 1
    finally:
        node.kill()
    log("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
