#!/usr/bin/python3
"""Reads from a TemporalX node without any s3xfs code (grpcio generic calls, protoc stubs).

usage: txget.py STUBS_DIR ADDR download CID [START END]   file bytes (DownloadFile) to stdout
       txget.py STUBS_DIR ADDR block CID                   one block (BS_GET) to stdout, after
                                                           checking its sha2-256 against the CID
       txget.py STUBS_DIR ADDR refcount CID...             "CID COUNT" lines (AdminAPI.RefCount)
"""
import base64
import hashlib
import sys

import grpc

sys.path.insert(0, sys.argv[1])
import temporalx_pb2 as pb  # noqa: E402

addr, cmd, args = sys.argv[2], sys.argv[3], sys.argv[4:]
ch = grpc.insecure_channel(addr, options=[("grpc.max_receive_message_length", 64 << 20)])


def multihash_of(cid):
    """The sha2-256 digest inside a base32 CIDv1 ('b...') or base58 CIDv0 ('Qm...')."""
    if cid.startswith("b"):
        s = cid[1:].upper()
        raw = base64.b32decode(s + "=" * (-len(s) % 8))
        # version 1, codec varint, then 0x12 0x20 digest
        i = 1
        while raw[i] & 0x80:
            i += 1
        i += 1
        assert raw[i] == 0x12 and raw[i + 1] == 0x20, "not sha2-256"
        return raw[i + 2:i + 34]
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    n = 0
    for c in cid:
        n = n * 58 + alphabet.index(c)
    raw = n.to_bytes(34, "big")
    return raw[2:]


if cmd == "download":
    call = ch.unary_stream("/pb.FileAPI/DownloadFile",
                           request_serializer=pb.DownloadRequest.SerializeToString,
                           response_deserializer=pb.DownloadResponse.FromString)
    req = pb.DownloadRequest(hash=args[0])
    if len(args) == 3:
        req.rangeStart, req.rangeEnd = int(args[1]), int(args[2])
    for msg in call(req, timeout=60):
        sys.stdout.buffer.write(msg.blob.content)
elif cmd == "block":
    call = ch.unary_unary("/pb.NodeAPI/Blockstore",
                          request_serializer=pb.BlockstoreRequest.SerializeToString,
                          response_deserializer=pb.BlockstoreResponse.FromString)
    resp = call(pb.BlockstoreRequest(requestType=pb.BS_GET, cids=[args[0]]), timeout=60)
    data = resp.blocks[0].data
    if hashlib.sha256(data).digest() != multihash_of(args[0]):
        sys.exit("block bytes do not hash to " + args[0])
    sys.stdout.buffer.write(data)
elif cmd == "refcount":
    call = ch.unary_unary("/pb.AdminAPI/RefCount",
                          request_serializer=pb.RefCountRequest.SerializeToString,
                          response_deserializer=pb.RefCountResponse.FromString)
    resp = call(pb.RefCountRequest(cids=args), timeout=60)
    for c in args:
        print(c, resp.cids.get(c, 0))
else:
    sys.exit("unknown command " + cmd)
