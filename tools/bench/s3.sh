#!/usr/bin/env bash
# Benchmark: S3 PUT and GET of 64 MiB and 4 KiB objects at concurrency 1 and 8 against
# `s3xfs serve` (embedded block store), with baselines measured in the same run:
#   GET: nginx serving the same bytes from a directory on the same disk (ratio s3xfs / nginx,
#        target >= 0.5);
#   PUT: the single-core rate of sha2-256 + MD5 over the same bytes, 1/(1/sha + 1/md5), which
#        every written byte needs (DESIGN.md §9) (ratio s3xfs / that, target >= 0.5).
# The load generator is tools/bench/s3_bench.cc (keep-alive sockets, SigV4 UNSIGNED-PAYLOAD).
# Not part of CI.
#
# Usage: tools/bench/s3.sh [/path/to/s3xfs [/path/to/s3_bench]]
#        (default build/s3xfs and build/tests/s3_bench)
# Env:   S3XFS_BENCH_SECONDS (default 3: duration of each 4 KiB run),
#        S3XFS_BENCH_BIG_OPS (default 8: 64 MiB requests per run at concurrency 1; x2 at 8),
#        S3XFS_BENCH_DIR (where the data dir and nginx root go; default a temp dir in $TMPDIR).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
s3xfs=${1:-$repo/build/s3xfs}
bench=${2:-$(dirname "$s3xfs")/tests/s3_bench}
[[ -x "$s3xfs" ]] || { echo "s3: s3xfs not found: $s3xfs" >&2; exit 1; }
[[ -x "$bench" ]] || { echo "s3: s3_bench not found: $bench (meson compile -C BUILD s3_bench)" >&2; exit 1; }
nginx=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x "$nginx" ]] || { echo "s3: nginx not found (apt-get install nginx-light, or tools/setup.sh)" >&2; exit 1; }
command -v openssl >/dev/null || { echo "s3: openssl not found" >&2; exit 1; }
secs=${S3XFS_BENCH_SECONDS:-3}
big_ops=${S3XFS_BENCH_BIG_OPS:-8}

if [[ -n "${S3XFS_BENCH_DIR:-}" ]]; then
  work=$S3XFS_BENCH_DIR
  mkdir -p "$work"
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/s3xfs-bench-s3.XXXXXX")
fi
server_pid= nginx_pid=
cleanup() {
  [[ -n "$server_pid" ]] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  [[ -n "$nginx_pid" ]] && kill -TERM "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
  [[ -z "${S3XFS_BENCH_DIR:-}" ]] && rm -rf -- "$work"
  return 0
}
trap cleanup EXIT
start=$(date +%s)

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---- the bytes ----
mkdir -p "$work/www/bench"
chmod 755 "$work" "$work/www" "$work/www/bench"
big=$work/www/bench/obj-64m small=$work/www/bench/obj-4k
head -c $((64 << 20)) /dev/urandom >"$big"
head -c 4096 /dev/urandom >"$small"
chmod 644 "$big" "$small"

# ---- the hash baseline: single-core sha2-256 and MD5 (OpenSSL, 256 KiB buffers, as DESIGN.md §9) ----
hash_rate() {  # hash_rate ALG -> bytes/s ("openssl speed" prints 1000s of bytes per second)
  openssl speed -evp "$1" -bytes 262144 -seconds 2 2>/dev/null |
    awk -v alg="$1" '$1 == alg { v = $NF; sub(/k$/, "", v); printf "%d", v * 1000 }'
}
sha_rate=$(hash_rate sha256)
md5_rate=$(hash_rate md5)
[[ -n "$sha_rate" && -n "$md5_rate" && "$sha_rate" -gt 0 && "$md5_rate" -gt 0 ]] ||
  { echo "s3: openssl speed gave no rate" >&2; exit 1; }
put_limit=$(awk -v s="$sha_rate" -v m="$md5_rate" 'BEGIN { printf "%d", 1 / (1 / s + 1 / m) }')

# ---- s3xfs serve ----
keys=$work/s3-keys
ak=benchkey sk=benchsecret0123456789
printf '%s %s\n' "$ak" "$sk" >"$keys"
chmod 600 "$keys"
log=$work/server.log
"$s3xfs" serve --data-dir "$work/data" --s3-listen 127.0.0.1:0 --s3-keys "$keys" >"$log" 2>&1 &
server_pid=$!
addr=
for ((i = 0; i < 200; i++)); do
  addr=$(sed -n 's|^s3xfs: S3 listening on http://||p' "$log" | tail -n 1)
  [[ -n "$addr" ]] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.05
done
[[ -n "$addr" ]] || { echo "s3: server did not start" >&2; cat "$log" >&2; exit 1; }
s3port=${addr##*:}
curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" --user "$ak:$sk" -X PUT "http://$addr/bench" >/dev/null ||
  { echo "s3: CreateBucket failed" >&2; exit 1; }

# ---- nginx on a free port, serving $work/www ----
ngport=$(free_port)
mkdir -p "$work/nginx"
# As root, nginx runs as nobody (setpriv), never as a privileged master.
as_user=()
if [[ $(id -u) == 0 ]]; then
  as_user=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
  chmod 755 "$work/nginx"
  chown nobody:nogroup "$work/nginx"
fi
cat >"$work/nginx/nginx.conf" <<EOF
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$ngport;
    root $work/www;
  }
}
EOF
"${as_user[@]}" "$nginx" -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" \
  -g 'daemon off;' 2>"$work/nginx/stderr" &
nginx_pid=$!
for ((i = 0; i < 100; i++)); do
  curl -sf -o /dev/null "http://127.0.0.1:$ngport/bench/obj-4k" && break
  kill -0 "$nginx_pid" 2>/dev/null || { cat "$work/nginx/stderr" >&2; exit 1; }
  sleep 0.05
done

run() {  # run PORT AUTH(1|0) ARGS... -> prints MB/s and ops/s, keeps the line in $last
  local port=$1 auth=$2
  shift 2
  local a=(--host 127.0.0.1 --port "$port")
  ((auth)) && a+=(--access-key "$ak" --secret-key "$sk")
  last=$("$bench" "${a[@]}" "$@") || { echo "s3: s3_bench failed: $*" >&2; echo "$last" >&2; exit 1; }
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$last"; }

# Objects to GET: the same bytes as the nginx files.
run "$s3port" 1 --op put --exact --path /bench/obj-64m --file "$big" --count 1
run "$s3port" 1 --op put --exact --path /bench/obj-4k --file "$small" --count 1

declare -A mbps opsps
for size in 64m 4k; do
  file=$work/www/bench/obj-$size
  for c in 1 8; do
    if [[ $size == 64m ]]; then amount=(--count $((c == 1 ? big_ops : 2 * big_ops))); else amount=(--seconds "$secs"); fi
    run "$s3port" 1 --op put --path "/bench/put-$size" --file "$file" --concurrency "$c" "${amount[@]}"
    mbps[s3put-$size-$c]=$(field MBps); opsps[s3put-$size-$c]=$(field opsps)
    run "$s3port" 1 --op get --path "/bench/obj-$size" --file "$file" --concurrency "$c" "${amount[@]}"
    mbps[s3get-$size-$c]=$(field MBps); opsps[s3get-$size-$c]=$(field opsps)
    run "$ngport" 0 --op get --path "/bench/obj-$size" --file "$file" --concurrency "$c" "${amount[@]}"
    mbps[ngget-$size-$c]=$(field MBps); opsps[ngget-$size-$c]=$(field opsps)
  done
done

limit_mbps=$(awk -v r="$put_limit" 'BEGIN { printf "%.1f", r / 1e6 }')
printf '\ns3: sha2-256 %.0f MB/s, MD5 %.0f MB/s on one core -> PUT limit 1/(1/sha+1/md5) = %s MB/s\n' \
  "$(awk -v r="$sha_rate" 'BEGIN{print r/1e6}')" "$(awk -v r="$md5_rate" 'BEGIN{print r/1e6}')" "$limit_mbps"
printf '\n%-8s %-5s %-10s %12s %12s %12s %10s\n' object conc op s3xfs_MB/s s3xfs_ops/s baseline ratio
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
for size in 64m 4k; do
  for c in 1 8; do
    printf '%-8s %-5s %-10s %12s %12s %12s %10s\n' "$size" "$c" PUT "${mbps[s3put-$size-$c]}" \
      "${opsps[s3put-$size-$c]}" "$limit_mbps" "$(ratio "${mbps[s3put-$size-$c]}" "$limit_mbps")"
    printf '%-8s %-5s %-10s %12s %12s %12s %10s\n' "$size" "$c" GET "${mbps[s3get-$size-$c]}" \
      "${opsps[s3get-$size-$c]}" "${mbps[ngget-$size-$c]}" "$(ratio "${mbps[s3get-$size-$c]}" "${mbps[ngget-$size-$c]}")"
  done
done
echo
echo "baseline: PUT = single-core sha2-256+MD5 rate (MB/s); GET = nginx on the same bytes (MB/s; for 4 KiB the ratio is of requests/s too)"
for c in 1 8; do
  echo "ratio GET 64 MiB c=$c s3xfs/nginx: $(ratio "${mbps[s3get-64m-$c]}" "${mbps[ngget-64m-$c]}") (target >= 0.5)"
  echo "ratio PUT 64 MiB c=$c s3xfs/hash-limit: $(ratio "${mbps[s3put-64m-$c]}" "$limit_mbps") (target >= 0.5)"
done
echo "s3: done in $(( $(date +%s) - start )) s"
