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
  # The mount also serves S3; pick a free port starting at 9000.
  port=9000
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
  echo "== s3xfs mount $mnt (buckets are directories, objects are files; S3 on 127.0.0.1:$port)"
  build/s3xfs mount --data-dir "$data" --s3-listen "127.0.0.1:$port" "$mnt"
  mkdir -p "$mnt/demo-bucket"
  cp README.md "$mnt/demo-bucket/"
  ls -l "$mnt/demo-bucket"
  echo "user.ipfs.cid of the copy: $(getfattr --absolute-names --only-values -n user.ipfs.cid "$mnt/demo-bucket/README.md" 2>/dev/null || echo '(install attr for getfattr)')"
  if command -v curl >/dev/null; then
    read -r ak sk < <(grep -v '^#' "$data/s3-keys" | head -1)
    echo "== the same object over S3 (keys in $data/s3-keys): GET /demo-bucket/README.md"
    curl -sS -D "$data/.headers" --aws-sigv4 aws:amz:us-east-1:s3 --user "$ak:$sk" \
      -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "http://127.0.0.1:$port/demo-bucket/README.md" | head -3
    grep -i '^x-amz-meta-ipfs-cid' "$data/.headers" || true
  fi
  fusermount3 -u "$mnt"
  echo "== unmounted; the data stays in $data (mount it again with: build/s3xfs mount --data-dir $data $mnt)"
fi
