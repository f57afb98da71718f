#!/usr/bin/env bash
# restic (Debian 12: 0.14, minio-go) against a real `s3xfs serve`: over plain http minio-go
# uploads with STREAMING-AWS4-HMAC-SHA256-PAYLOAD (aws-chunked, every chunk signed), probes
# with HeadBucket / GetBucketLocation and reads packs with many ranged GETs.
# init (creates the bucket); backup of a mixed tree with a 24 MiB file (several packs);
# check --read-data; restore + diff -r; a second backup after changes (dedup: only new data);
# restore of each snapshot; a server restart (check on the same data); forget --keep-last 1
# --prune (DeleteObject, repack); check --read-data again; a wrong password is refused.
#
# Usage: tests/s3/restic.sh /path/to/s3xfs
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
s3_init "$@"
require_cmd restic
PY=/usr/bin/python3  # Debian's (a pyenv shim first in PATH costs seconds a call)
require_exe "$PY"
s3_start

export AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY"
export AWS_DEFAULT_REGION="$S3_REGION"
export RESTIC_REPOSITORY="s3:$S3_ENDPOINT/restic-bkt/repo"
export RESTIC_PASSWORD=correct-horse-battery
export RESTIC_CACHE_DIR="$TMP/restic-cache"
unset RESTIC_PASSWORD_FILE RESTIC_PASSWORD_COMMAND AWS_SESSION_TOKEN AWS_PROFILE
rs() { run_ok "restic $*" restic -o s3.region="$S3_REGION" "$@"; }

SRC="$TMP/src"
make_tree "$SRC"
chacha restic/big $((24 * 1024 * 1024 + 99)) >"$SRC/big.bin"

log "init"
rs init >/dev/null

log "backup 1"
rs backup --host ci "$SRC" >"$TMP/b1.out"
rs snapshots --json >"$TMP/snaps.json"
n=$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$TMP/snaps.json")
assert_eq "$n" 1 "snapshots after the first backup"
id1=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["short_id"])' "$TMP/snaps.json")

log "check --read-data"
rs check --read-data >/dev/null

log "restore 1 + diff"
rs restore "$id1" --target "$TMP/r1" >/dev/null
diff -r "$SRC" "$TMP/r1$SRC" >&2 || fail "restore of snapshot 1 differs"

log "backup 2 after changes"
cp -a "$SRC" "$TMP/src1"  # what snapshot 1 holds
chacha restic/changed 65537 >"$SRC/sub/a.bin"
chacha restic/new $((3 * 1024 * 1024)) >"$SRC/sub/new.bin"
rm "$SRC/hello.txt"
rs backup --host ci "$SRC" >"$TMP/b2.out"
added=$(sed -n 's/^Added to the repo\(sitory\)\?: *//p' "$TMP/b2.out")
log "  second backup added: ${added:-?}"
rs snapshots --json >"$TMP/snaps.json"
id2=$("$PY" -c 'import json,sys; s=json.load(open(sys.argv[1])); print(len(s), s[-1]["short_id"])' "$TMP/snaps.json")
assert_eq "${id2%% *}" 2 "snapshots after the second backup"
id2=${id2#* }
rs restore "$id2" --target "$TMP/r2" >/dev/null
diff -r "$SRC" "$TMP/r2$SRC" >&2 || fail "restore of snapshot 2 differs"
rs restore "$id1" --target "$TMP/r1b" >/dev/null
diff -r "$TMP/src1" "$TMP/r1b$SRC" >&2 || fail "restore of snapshot 1 after backup 2 differs"

log "server restart on the same data dir (new port): the repository is intact"
s3_stop
S3_KEEP_DATA=1 s3_start
export RESTIC_REPOSITORY="s3:$S3_ENDPOINT/restic-bkt/repo"
rs check >/dev/null

log "ls / dump"
rs ls "$id2" >"$TMP/ls.out"
grep -q 'sub/new.bin$' "$TMP/ls.out" || fail "restic ls does not show sub/new.bin"
rs dump "$id2" "$SRC/sub/deeper/b.bin" >"$TMP/dump.out"
assert_same_file "$TMP/dump.out" "$SRC/sub/deeper/b.bin" "restic dump"

log "forget --keep-last 1 --prune, check --read-data"
rs forget --keep-last 1 --prune >/dev/null
rs check --read-data >/dev/null
rs restore latest --target "$TMP/r3" >/dev/null
diff -r "$SRC" "$TMP/r3$SRC" >&2 || fail "restore after prune differs"

log "a wrong password is refused"
RESTIC_PASSWORD=wrong EXPECT_FAIL_ANY_LINES=1 expect_fail "wrong password" restic snapshots

log "PASS ($(elapsed) s)"
