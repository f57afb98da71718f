#!/usr/bin/env bash
# The config file: every key is an option's long name; a key and the same flag behave the same;
# [COMMAND] sections; precedence command line > [COMMAND] > global; unknown keys are errors.
# usage: config.sh /path/to/s3xfs
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
s3xfs_init "$@"
printf 'config test file\n' > "$TMP/f"
v1=$("$S3XFS" add --only-hash "$TMP/f")
v0=$("$S3XFS" add --only-hash --cid-version 0 "$TMP/f")

log "a global key acts like its flag (data-dir)"
printf '# comment\ndata-dir = %s\n' "$TMP/from-config" > "$TMP/a.conf"
assert_eq "$("$S3XFS" add --config "$TMP/a.conf" "$TMP/f")" "$v1" "add with data-dir from the config"
"$S3XFS" cat --config "$TMP/a.conf" "$v1" > "$TMP/out"
assert_same_file "$TMP/f" "$TMP/out"
"$S3XFS" cat --data-dir "$TMP/from-config" "$v1" > "$TMP/out2"
assert_same_file "$TMP/f" "$TMP/out2"

log "a [command] key applies to that command only; the command line wins"
printf 'only-hash = true\n[add]\ncid-version = 0\n[cat]\noffset = 7\n' > "$TMP/b.conf"
assert_eq "$("$S3XFS" add --config "$TMP/b.conf" "$TMP/f")" "$v0" "[add] cid-version = 0"
assert_eq "$("$S3XFS" add --config "$TMP/b.conf" --cid-version 1 "$TMP/f")" "$v1" "flag over [add]"
assert_eq "$("$S3XFS" cat --config "$TMP/a.conf" --offset 7 "$v1")" "$("$S3XFS" cat --data-dir "$TMP/from-config" --offset 7 "$v1")" "offset flag"

log "S3XFS_CONFIG names the file when --config does not"
assert_eq "$(S3XFS_CONFIG="$TMP/b.conf" "$S3XFS" add "$TMP/f")" "$v0" "S3XFS_CONFIG"

log "keys of other commands are skipped; unknown keys and sections are errors"
printf 's3-listen = 127.0.0.1:1\nlisten = 127.0.0.1:2\n' > "$TMP/c.conf"
assert_eq "$("$S3XFS" add --config "$TMP/c.conf" --only-hash "$TMP/f")" "$v1" "foreign keys ignored"
printf 'colour = blue\n' > "$TMP/d.conf"
set +e
"$S3XFS" add --config "$TMP/d.conf" --only-hash "$TMP/f" 2>"$TMP/err"; rc=$?
set -e
assert_eq "$rc" 2 "exit status for an unknown key"
grep -q "unknown key 'colour'" "$TMP/err" || fail "unclear error: $(cat "$TMP/err")"
printf '[mnt]\ncache-size = 1\n' > "$TMP/e.conf"
expect_fail "unknown section" "$S3XFS" add --config "$TMP/e.conf" --only-hash "$TMP/f"
expect_fail "missing config file" "$S3XFS" add --config "$TMP/nope.conf" --only-hash "$TMP/f"

log "ipfs from the config file selects the TemporalX back end, like --ipfs"
printf 'ipfs = temporalx://127.0.0.1:1\n' > "$TMP/g.conf"
set +e
"$S3XFS" add --config "$TMP/g.conf" "$TMP/f" 2>"$TMP/err1"; rc1=$?
"$S3XFS" add --ipfs temporalx://127.0.0.1:1 "$TMP/f" 2>"$TMP/err2"; rc2=$?
set -e
assert_eq "$rc1" "$rc2" "same exit status from the key and the flag"
grep -q "temporalx://127.0.0.1:1" "$TMP/err1" || fail "config ipfs not used: $(cat "$TMP/err1")"
if [ -e /dev/fuse ]; then
  log "relative --data-dir and mount point work for a mount that detaches (chdir /)"
  mkdir -p "$TMP/rel/m"
  (cd "$TMP/rel" && "$S3XFS" mount --data-dir d --s3-listen none m) || fail "mount with relative paths"
  mkdir "$TMP/rel/m/bkt" && printf 'rel\n' > "$TMP/rel/m/bkt/f"
  assert_eq "$(cat "$TMP/rel/m/bkt/f")" "rel" "file in a mount with a relative data dir"
  fusermount3 -u "$TMP/rel/m"
  [ -f "$TMP/rel/d/ledger.db" ] || fail "the ledger is not under the relative data dir"
fi
log "PASS"
