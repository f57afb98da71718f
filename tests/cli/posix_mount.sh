#!/usr/bin/env bash
# Runs the project's POSIX conformance suite (tests/posix) against a real s3xfs mount.
# Usage: posix_mount.sh /path/to/s3xfs [categories...]
set -euo pipefail
S3XFS=${1:?usage: posix_mount.sh S3XFS}
shift
[ -e /dev/fuse ] || { echo "SKIP: no /dev/fuse"; exit 77; }
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/s3xfs-posix.XXXXXX")
chmod 755 "$tmp"
mkdir -p "$tmp/mnt"
trap 'fusermount3 -u "$tmp/mnt" 2>/dev/null || umount -l "$tmp/mnt" 2>/dev/null || true; rm -rf -- "$tmp" 2>/dev/null || true' EXIT
"$S3XFS" mount --data-dir "$tmp/data" "$tmp/mnt"
mkdir "$tmp/mnt/posix"
chmod 755 "$tmp/mnt/posix"
# Timestamps are nanosecond-exact here: no need to wait a second before ctime checks.
POSIX_TIME_DELAY=${POSIX_TIME_DELAY:-0.05} bash "$here/posix/run.sh" "$tmp/mnt/posix" "$@"
