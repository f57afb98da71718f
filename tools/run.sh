#!/usr/bin/env bash
# Command 1 of the README: install what is missing, build, and run s3xfs on the embedded block
# store: add a sample file and read it back by CID, export it as a CAR, then mount the data
# directory, copy the file in, show its CID and unmount.
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
if [ -e /dev/fuse ]; then
  mnt=$PWD/build/mnt
  mkdir -p "$mnt"
  echo "== s3xfs mount $mnt (buckets are directories, objects are files)"
  build/s3xfs mount --data-dir "$data" "$mnt"
  mkdir -p "$mnt/demo-bucket"
  cp README.md "$mnt/demo-bucket/"
  ls -l "$mnt/demo-bucket"
  echo "user.ipfs.cid of the copy: $(getfattr --absolute-names --only-values -n user.ipfs.cid "$mnt/demo-bucket/README.md" 2>/dev/null || echo '(install attr for getfattr)')"
  fusermount3 -u "$mnt"
  echo "== unmounted; the data stays in $data (mount it again with: build/s3xfs mount --data-dir $data $mnt)"
fi
