#!/usr/bin/env bash
# Command 1 of the README: install what is missing, build, and run s3xfs on the embedded block
# store. Today s3xfs is the content-addressing CLI; it adds a sample file, reads it back by CID
# and exports it as a CAR.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh --no-test-deps
tools/build.sh
data=${S3XFS_DATA_DIR:-$PWD/build/demo-data}
echo "== s3xfs add README.md (embedded store in $data)"
cid=$(build/s3xfs add --data-dir "$data" README.md)
echo "$cid   (the same CID as: ipfs add --cid-version=1 README.md)"
echo "== s3xfs cat $cid | head -3"
build/s3xfs cat --data-dir "$data" "$cid" | head -3
echo "== s3xfs export-car $cid > build/demo.car"
build/s3xfs export-car --data-dir "$data" "$cid" > build/demo.car
ls -l build/demo.car
