#!/usr/bin/env bash
# Mount benchmarks: each job runs on the s3xfs mount and on a directory of the local disk that
# holds the data/cache directory, in the same run, and prints the ratio mount/local.
#   seq write 1 GiB, seq read 1 GiB (targets >= 0.7), 4 KiB random read of a cached file,
#   create/stat/unlink of N small files (target >= 0.3), ls -f of a big directory (< 3 s).
# Usage: tools/bench/mount.sh [/path/to/s3xfs]   Env: S3XFS_BENCH_SIZE (default 1g),
#        S3XFS_BENCH_FILES (default 10000), S3XFS_BENCH_DIRENTS (default 100000).
set -euo pipefail
S3XFS=${1:-${S3XFS:-$(cd "$(dirname "$0")/../.." && pwd)/build/s3xfs}}
SIZE=${S3XFS_BENCH_SIZE:-1g}
NFILES=${S3XFS_BENCH_FILES:-10000}
NDIRENTS=${S3XFS_BENCH_DIRENTS:-100000}
command -v fio >/dev/null || { echo "mount bench: fio missing (tools/setup.sh)"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/s3xfs-mbench.XXXXXX")
mnt=$tmp/mnt; data=$tmp/data; local_dir=$tmp/local
mkdir -p "$mnt" "$local_dir"
trap 'fusermount3 -u "$mnt" 2>/dev/null || true; rm -rf -- "$tmp"' EXIT
"$S3XFS" mount --data-dir "$data" --s3-listen none "$mnt"
mkdir "$mnt/bench"
M=$mnt/bench

# fio job -> bandwidth in KiB/s
bw() {  # dir rw bs extra...
  local dir=$1 rw=$2 bs=$3; shift 3
  fio --name=j --directory="$dir" --rw="$rw" --bs="$bs" --size="$SIZE" --ioengine=psync \
      --output-format=terse --terse-version=3 "$@" | awk -F';' -v rw="$rw" \
      '{ print (rw ~ /read/) ? $7 : $48 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
line() { printf "%-34s %12s %12s   ratio %s (target %s)\n" "$1" "$2" "$3" "$(ratio "$2" "$3")" "$4"; }

printf "%-34s %12s %12s\n" "job" "s3xfs" "local"
w_m=$(bw "$M" write 1m --end_fsync=1); w_l=$(bw "$local_dir" write 1m --end_fsync=1)
line "seq write $SIZE (KiB/s)" "$w_m" "$w_l" ">= 0.7"
echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
r_m=$(bw "$M" read 1m); r_l=$(bw "$local_dir" read 1m)
line "seq read $SIZE (KiB/s)" "$r_m" "$r_l" ">= 0.7"
rr_m=$(bw "$M" randread 4k --time_based --runtime=5); rr_l=$(bw "$local_dir" randread 4k --time_based --runtime=5)
line "4k random read, cached (KiB/s)" "$rr_m" "$rr_l" "-"
rm -f "$M"/j.* "$local_dir"/j.*

small() {  # dir -> files per second for create+stat+unlink
  local d=$1/small start end
  mkdir -p "$d"
  start=$(date +%s.%N)
  (cd "$d" && seq 1 "$NFILES" | xargs touch && seq 1 "$NFILES" | xargs stat -c %s >/dev/null &&
   seq 1 "$NFILES" | xargs rm -f)
  end=$(date +%s.%N)
  awk -v n="$NFILES" -v s="$start" -v e="$end" 'BEGIN { printf "%.0f", n / (e - s) }'
}
s_m=$(small "$M"); s_l=$(small "$local_dir")
line "create/stat/unlink $NFILES (files/s)" "$s_m" "$s_l" ">= 0.3"

mkdir "$M/big"
(cd "$M/big" && seq 1 "$NDIRENTS" | xargs touch)
start=$(date +%s.%N); n=$(ls -f "$M/big" | wc -l); end=$(date +%s.%N)
printf "%-34s %12s entries in %.2f s (target < 3 s)\n" "ls -f of a big directory" "$n" \
  "$(awk -v s="$start" -v e="$end" 'BEGIN { print e - s }')"
