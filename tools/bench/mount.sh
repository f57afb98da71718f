#!/usr/bin/env bash
# Mount benchmarks: each job runs on the s3xfs mount and on a directory of the local disk that
# holds the data/cache directory, in the same run, and prints the ratio mount/local.
#   seq write 1 GiB, seq read 1 GiB (targets >= 0.7), 4 KiB random read of a cached file,
#   create/stat/unlink of N small files (target >= 0.3), ls -f of a big directory (< 3 s), and
#   the fsync of a 4 KiB write into a 256 MiB file (a database page).
# After the small-file job it prints the FUSE requests the kernel sent per file and the round
# trip of the cheapest request (statfs): their product bounds the small-file rate of any FUSE
# daemon on the machine, whatever it does per request.
# Every job starts from the same state on both sides: dirty data written back and, as root, the
# page cache dropped (so reads come from the disk). With S3XFS_BENCH_REPEAT=N each job runs N
# times, mount and local alternating, and the medians are compared (the machine is shared: load
# is printed at the start and the end).
# Usage: tools/bench/mount.sh [/path/to/s3xfs]   Env: S3XFS_BENCH_SIZE (default 1g),
#        S3XFS_BENCH_FILES (default 10000), S3XFS_BENCH_DIRENTS (default 100000),
#        S3XFS_BENCH_REPEAT (default 1).
set -euo pipefail
S3XFS=${1:-${S3XFS:-$(cd "$(dirname "$0")/../.." && pwd)/build/s3xfs}}
SIZE=${S3XFS_BENCH_SIZE:-1g}
NFILES=${S3XFS_BENCH_FILES:-10000}
NDIRENTS=${S3XFS_BENCH_DIRENTS:-100000}
REPEAT=${S3XFS_BENCH_REPEAT:-1}
command -v fio >/dev/null || { echo "mount bench: fio missing (tools/setup.sh)"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/s3xfs-mbench.XXXXXX")
mnt=$tmp/mnt; data=$tmp/data; local_dir=$tmp/local
mkdir -p "$mnt" "$local_dir"
trap 'fusermount3 -u "$mnt" 2>/dev/null || true; rm -rf -- "$tmp"' EXIT
mport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$S3XFS" mount --data-dir "$data" --s3-listen none --metrics-listen "127.0.0.1:$mport" "$mnt"
mkdir "$mnt/bench"
M=$mnt/bench
echo "# $("$S3XFS" --version 2>/dev/null || echo "$S3XFS"); load at start:$(uptime | sed 's/.*load average://')"

settle() {  # write back dirty data; drop the page cache when allowed (root)
  sync
  echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
}

# fio job -> bandwidth in KiB/s
bw() {  # dir rw bs extra...
  local dir=$1 rw=$2 bs=$3; shift 3
  fio --name=j --directory="$dir" --rw="$rw" --bs="$bs" --size="$SIZE" --ioengine=psync \
      --output-format=terse --terse-version=3 "$@" | awk -F';' -v rw="$rw" \
      '{ print (rw ~ /read/) ? $7 : $48 }'
}
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
line() { printf "%-34s %12s %12s   ratio %s (target %s)\n" "$1" "$2" "$3" "$(ratio "$2" "$3")" "$4"; }
# job NAME TARGET SETTLE CMD...: runs "CMD DIR" on the mount and on the local directory, REPEAT
# times alternating (settled before each run when SETTLE is 1), and prints the medians.
job() {
  local name=$1 target=$2 settle=$3; shift 3
  local ms="" ls="" i
  for i in $(seq 1 "$REPEAT"); do
    ((settle)) && settle; ms+=" $("$@" "$M")"
    ((settle)) && settle; ls+=" $("$@" "$local_dir")"
  done
  line "$name" "$(echo "$ms" | median)" "$(echo "$ls" | median)" "$target"
}

printf "%-34s %12s %12s\n" "job" "s3xfs" "local"
seq_write() { rm -f "$1"/j.*; bw "$1" write 1m --end_fsync=1; }  # a new file each time
seq_read() { bw "$1" read 1m; }
rand_read() { cat "$1"/j.* >/dev/null; bw "$1" randread 4k --time_based --runtime=5; }
# The file the write job leaves is what the read jobs read; the random reads run on a file just
# read in full (cached, if the side keeps its page cache across opens).
job "seq write $SIZE (KiB/s)" ">= 0.7" 1 seq_write
job "seq read $SIZE (KiB/s)" ">= 0.7" 1 seq_read
job "4k random read, cached (KiB/s)" "-" 0 rand_read
rm -f "$M"/j.* "$local_dir"/j.*

# A database-like update: 4 KiB written at a random offset of a 256 MiB file, then fsync; the
# median of 20, in microseconds (lower is better: the ratio here is local/mount).
page_fsync() {
  python3 - "$1/pf.bin" <<'PY'
import os, random, sys, time
p = sys.argv[1]
with open(p, "wb") as f:
    for i in range(256): f.write(os.urandom(1 << 20))
fd = os.open(p, os.O_RDWR); ts = []
for i in range(20):
    os.pwrite(fd, os.urandom(4096), random.randrange(0, 256 << 20, 4096))
    t = time.perf_counter(); os.fsync(fd); ts.append(time.perf_counter() - t)
os.close(fd); os.unlink(p)
print("%.0f" % (sorted(ts)[10] * 1e6))
PY
}
ms=""; ls=""
for i in $(seq 1 "$REPEAT"); do ms+=" $(page_fsync "$M")"; ls+=" $(page_fsync "$local_dir")"; done
pm=$(echo "$ms" | median); pl=$(echo "$ls" | median)
printf "%-34s %12s %12s   ratio %s (local/mount)\n" \
  "4k write+fsync in 256 MiB (us)" "$pm" "$pl" "$(ratio "$pl" "$pm")"

small() {  # dir -> files per second for create+stat+unlink
  local d=$1/small start end
  mkdir -p "$d"
  start=$(date +%s.%N)
  (cd "$d" && seq 1 "$NFILES" | xargs touch && seq 1 "$NFILES" | xargs stat -c %s >/dev/null &&
   seq 1 "$NFILES" | xargs rm -f)
  end=$(date +%s.%N)
  awk -v n="$NFILES" -v s="$start" -v e="$end" 'BEGIN { printf "%.0f", n / (e - s) }'
}
fuse_requests() {  # total FUSE requests the mount has answered, "release" excluded / included
  curl -s "http://127.0.0.1:$mport/metrics" | awk -v all="$1" '/^s3xfs_fuse_requests_total/ {
    if (all || $0 !~ /"release"/) n += $2 } END { print n + 0 }'
}
r0=$(fuse_requests 0); a0=$(fuse_requests 1)
job "create/stat/unlink $NFILES (files/s)" ">= 0.3" 1 small
r1=$(fuse_requests 0); a1=$(fuse_requests 1)
# What the kernel asks per file, and the cost of the cheapest request (statfs: no ledger work).
# The client waits for every request but release, so (requests x round trip) bounds the rate
# any FUSE daemon reaches on this machine.
rt=$(python3 -c 'import os, sys, time
n = 20000; t = time.perf_counter()
for _ in range(n): os.statvfs(sys.argv[1])
print("%.1f" % ((time.perf_counter() - t) / n * 1e6))' "$M")
awk -v r=$((r1 - r0)) -v a=$((a1 - a0)) -v n=$((NFILES * REPEAT)) -v rt="$rt" 'BEGIN {
  per = r / n; printf "%-34s %12.1f %12s   (+%.1f release, not waited for)\n", "  FUSE requests per file waited for", per, "-", (a - r) / n
  printf "%-34s %12s %12s\n", "  FUSE round trip, statfs (us)", rt, "-"
  printf "%-34s %12.0f %12s   (requests x round trip, no work at all)\n", "  FUSE floor (files/s)", 1e6 / (per * rt), "-" }'

mkdir "$M/big"
(cd "$M/big" && seq 1 "$NDIRENTS" | xargs touch)
settle
start=$(date +%s.%N); n=$(ls -f "$M/big" | wc -l); end=$(date +%s.%N)
printf "%-34s %12s entries in %.2f s (target < 3 s)\n" "ls -f of a big directory" "$n" \
  "$(awk -v s="$start" -v e="$end" 'BEGIN { print e - s }')"
echo "# load at end:$(uptime | sed 's/.*load average://')"
