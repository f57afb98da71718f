#!/usr/bin/python3
"""S3 view of a bucket through boto3, for snapshot/restore tests.

  s3_state.py ENDPOINT ACCESS SECRET put BUCKET   writes objects with S3 metadata (a plain PUT
                                                  with Content-Type and x-amz-meta-*, a
                                                  three-part multipart upload, a key that cannot
                                                  be a path)
  s3_state.py ENDPOINT ACCESS SECRET dump BUCKET  prints every object, one JSON line each: key,
                                                  size, ETag, sha256 of the body, Content-Type,
                                                  the user metadata and the CID header
"""
import hashlib
import json
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, access, secret, cmd, bucket = sys.argv[1:6]
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=access,
                  aws_secret_access_key=secret, region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}))

if cmd == "put":
    s3.put_object(Bucket=bucket, Key="s3/plain.txt", Body=b"hello from boto3\n",
                  ContentType="text/plain; charset=utf-8", ContentLanguage="en",
                  CacheControl="max-age=60", Metadata={"colour": "blue", "owner": "snapshot-test"})
    up = s3.create_multipart_upload(Bucket=bucket, Key="s3/multipart.bin",
                                    ContentType="application/x-test", Metadata={"parts": "3"})
    parts = []
    for n, size in enumerate([5 << 20, 5 << 20, 123457], start=1):
        body = hashlib.sha256(str(n).encode()).digest() * (size // 32) + b"x" * (size % 32)
        r = s3.upload_part(Bucket=bucket, Key="s3/multipart.bin", UploadId=up["UploadId"],
                           PartNumber=n, Body=body)
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    s3.complete_multipart_upload(Bucket=bucket, Key="s3/multipart.bin", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": parts})
    s3.put_object(Bucket=bucket, Key="s3/odd//name", Body=b"not a path\n",
                  Metadata={"why": "double slash"})
elif cmd == "dump":
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    for page in pages:
        for o in page.get("Contents", []):
            key = o["Key"]
            if key.startswith("big/"):
                continue  # thousands of tiny files: covered by diff -r
            try:
                g = s3.get_object(Bucket=bucket, Key=key)
            except ClientError as e:  # fifos and other special files have no body
                print(json.dumps({"key": key, "size": o["Size"], "etag": o["ETag"],
                                  "error": e.response["Error"]["Code"]}, sort_keys=True))
                continue
            body = g["Body"].read()
            print(json.dumps({
                "key": key, "size": o["Size"], "etag": o["ETag"],
                "sha256": hashlib.sha256(body).hexdigest(),
                "content_type": g.get("ContentType"), "content_language": g.get("ContentLanguage"),
                "cache_control": g.get("CacheControl"), "meta": g.get("Metadata"),
                "cid": g["ResponseMetadata"]["HTTPHeaders"].get("x-amz-meta-ipfs-cid"),
            }, sort_keys=True))
else:
    sys.exit("unknown command " + cmd)
