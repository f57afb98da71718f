#!/usr/bin/env bash
# TemporalX back end benchmark: sequential write of 1 GiB through the mount with
# --ipfs temporalx:// (a local `s3xfs node`) against the embedded back end, in the same run
# (target ratio >= 0.5), then how long the upload queue takes to drain to the node, and the
# upload rate that implies.
# Usage: tools/bench/temporalx.sh [/path/to/s3xfs]   Env: S3XFS_BENCH_SIZE (default 1g)
set -euo pipefail
S3XFS=${1:-${S3XFS:-$(cd "$(dirname "$0")/../.." && pwd)/build/s3xfs}}
SIZE=${S3XFS_BENCH_SIZE:-1g}
command -v fio >/dev/null || { echo "temporalx bench: fio missing (tools/setup.sh)"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/s3xfs-txbench.XXXXXX")
node_pid=
cleanup() {
  fusermount3 -u "$tmp/mnt" 2>/dev/null || true
  [ -n "$node_pid" ] && kill "$node_pid" 2>/dev/null || true
  rm -rf -- "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/mnt"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$S3XFS" node --data-dir "$tmp/node" --listen "127.0.0.1:$port" 2>"$tmp/node.log" &
node_pid=$!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

# fio sequential write (1 MiB blocks, fsync at the end) -> KiB/s
write_bw() {
  fio --name=j --directory="$1" --rw=write --bs=1m --size="$SIZE" --ioengine=psync --end_fsync=1 \
      --output-format=terse --terse-version=3 | awk -F';' '{ print $48 }'
}
pending() {
  "$S3XFS" status --data-dir "$1" --json |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["pending_uploads"])'
}

run() {  # name ipfs-args... -> sets bw
  local name=$1; shift
  "$S3XFS" mount --data-dir "$tmp/$name" --s3-listen none "$@" "$tmp/mnt"
  mkdir "$tmp/mnt/bench"
  bw=$(write_bw "$tmp/mnt/bench")
}

run embedded
bw_e=$bw
fusermount3 -u "$tmp/mnt"
rm -rf "$tmp/embedded"
sync

start=$(date +%s.%N)
run tx --ipfs "temporalx://127.0.0.1:$port"
bw_t=$bw
written=$(date +%s.%N)
while [ "$(pending "$tmp/tx")" != 0 ]; do sleep 0.2; done
drained=$(date +%s.%N)
fusermount3 -u "$tmp/mnt"

awk -v e="$bw_e" -v t="$bw_t" -v s="$start" -v w="$written" -v d="$drained" -v size="$SIZE" 'BEGIN {
  printf "%-40s %12s KiB/s\n", "seq write " size ", embedded", e
  printf "%-40s %12s KiB/s   ratio %.2f (target >= 0.5)\n", "seq write " size ", temporalx", t, t / e
  printf "%-40s %12.1f s after the write returned (%.1f s from the start)\n", "upload queue drained", d - w, d - s
  printf "%-40s %12.0f KiB/s (write + upload, end to end)\n", "effective rate to the node", t * (w - s) / (d - s)
}'
