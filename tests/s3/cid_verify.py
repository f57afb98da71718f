#!/usr/bin/python3
"""Checks that a file's bytes hash to a CID, independently of s3xfs.

usage: cid_verify.py CID FILE

Parses the CID text itself (CIDv0 "Qm..." base58btc, CIDv1 multibase 'b' base32 or 'z'
base58btc), takes the multihash (sha2-256 or identity) and compares it with hashlib's digest of
FILE. Prints "ok CODEC" (raw or dag-pb) and exits 0 on a match; prints why and exits 1 otherwise.
"""
import base64
import hashlib
import sys

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
CODECS = {0x55: "raw", 0x70: "dag-pb", 0x71: "dag-cbor"}


def b58decode(s):
    n = 0
    for ch in s:
        n = n * 58 + B58.index(ch)
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * (len(s) - len(s.lstrip("1"))) + raw


def varint(buf, pos):
    value = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, pos


def parse(text):
    """(codec, hash code, digest) of a CID's text."""
    if text.startswith("Qm") and len(text) == 46:
        mh = b58decode(text)
        codec = 0x70
    else:
        if text[0] in "bB":
            body = text[1:].upper()
            binary = base64.b32decode(body + "=" * (-len(body) % 8))
        elif text[0] == "z":
            binary = b58decode(text[1:])
        else:
            raise ValueError("unsupported multibase prefix " + text[0])
        version, pos = varint(binary, 0)
        if version != 1:
            raise ValueError("CID version %d" % version)
        codec, pos = varint(binary, pos)
        mh = binary[pos:]
    code, pos = varint(mh, 0)
    length, pos = varint(mh, pos)
    digest = mh[pos:]
    if len(digest) != length:
        raise ValueError("multihash length %d but %d digest bytes" % (length, len(digest)))
    return codec, code, digest


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    codec, code, digest = parse(sys.argv[1])
    with open(sys.argv[2], "rb") as f:
        data = f.read()
    if code == 0x12:
        got = hashlib.sha256(data).digest()
    elif code == 0x00:
        got = data
    else:
        print("unsupported multihash code 0x%x" % code)
        return 1
    if got != digest:
        print("mismatch: %d bytes hash to %s, the CID says %s" % (len(data), got.hex(), digest.hex()))
        return 1
    print("ok", CODECS.get(codec, hex(codec)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
