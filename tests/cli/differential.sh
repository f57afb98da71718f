#!/usr/bin/env bash
# shellcheck disable=SC2002  # `cat FILE |` is deliberate: stdin must be a pipe, not a file
# Differential test: `s3xfs add --only-hash` must print the same root CID as the reference
# importer (tools/js/ref-add.mjs = ipfs-unixfs-importer with Kubo's `ipfs add` settings)
# for edge-case and seeded random sizes, in both CID versions; plus the published vectors
# from docs IPFS_FORMATS.md checked against s3xfs directly.
#
# Usage: tests/cli/differential.sh /path/to/s3xfs
# Env:   S3XFS_TEST_SEED (default 20240601) chooses the random sizes and contents.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
s3xfs_init "$@"
require_node

seed=${S3XFS_TEST_SEED:-20240601}
log "seed = $seed (set S3XFS_TEST_SEED to change)"
D="$TMP/data"
mkdir -p "$D"
C=262144
start=$(now_ns)

s3_hash() { # VERSION FILE
  local out
  out=$("$S3XFS" add --data-dir "$D" --only-hash --cid-version "$1" "$2" 2>"$TMP/err") ||
    fail "s3xfs add --only-hash --cid-version $1 failed (exit $?): $(tr '\n' ' ' <"$TMP/err")"
  printf '%s' "$out"
}

# ---------------------------------------------------------------- 1. published vectors
log "1. published vectors (IPFS_FORMATS.md) against s3xfs"
check_vector() { # DESC VERSION FILE EXPECTED
  local got
  got=$(s3_hash "$2" "$3")
  assert_eq "$got" "$4" "vector $1 (cid-version $2)"
  log "  ok: $1 v$2 = $got"
}
: >"$TMP/empty"
printf 'hello world' >"$TMP/hw"
check_vector "empty file" 1 "$TMP/empty" bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku
check_vector "empty file" 0 "$TMP/empty" QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH
check_vector "'hello world'" 1 "$TMP/hw" bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e
check_vector "'hello world'" 0 "$TMP/hw" Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD

got=$("$S3XFS" add --data-dir "$D" --only-hash "$TMP/hw") || fail "s3xfs add --only-hash (default version) failed"
assert_eq "$got" bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e "default --cid-version must be 1"
log "  ok: default cid-version is 1"

chacha chunk-v0-seed $C >"$TMP/v"
check_vector "chunk-v0-seed 262144" 0 "$TMP/v" QmWmRj3dFDZdb6ABvbmKhEL6TmPbAfBZ1t5BxsEyJrcZhE
chacha chunk-v0-seed $((C + 1)) >"$TMP/v"
check_vector "chunk-v0-seed 262145" 0 "$TMP/v" QmYyLxtzZyW22zpoVAtKANLRHpDjZtNeDjQdJrcQNWoRkJ
chacha v0-seed $((174 * C)) >"$TMP/v"
check_vector "v0-seed 174*262144" 0 "$TMP/v" QmUbBALi174SnogsUzLpYbD4xPiBSFANF4iztWCsHbMKh2
chacha v0-seed $((174 * C + 1)) >"$TMP/v"
check_vector "v0-seed 174*262144+1 (two levels)" 0 "$TMP/v" QmV81WL765sC8DXsRhE5fJv2rwhS4icHRaf3J9Zk5FdRnW
rm -f "$TMP/v"
# (The directory vectors of IPFS_FORMATS.md are not checked: `s3xfs add` takes a file.)

# ---------------------------------------------------------------- 2. sizes
# Deterministic pseudo-random numbers from the seed (independent of bash's $RANDOM).
rnd() { # KEY -> unsigned 48-bit integer
  printf '%d' "0x$(printf '%s/%s' "$seed" "$1" | sha256sum | cut -c1-12)"
}
# shellcheck disable=SC2206
sizes=(0 1 2 11 $((C - 1)) $C $((C + 1)) $((2 * C)) $((174 * C - 1)) $((174 * C)) $((174 * C + 1))
  $((175 * C)) $((2 * 174 * C + 5)))
MAX=$((64 * 1024 * 1024))
for i in 0 1 2 3 4 5 6 7 8 9; do
  r=$(rnd "size$i")
  case $((i % 4)) in
    0) sizes+=($((r % (C * 3)))) ;;             # small: up to 3 chunks
    1) sizes+=($((r % (MAX + 1)))) ;;           # anything up to 64 MiB
    2) sizes+=($(((r % (MAX / C)) * C))) ;;     # exact chunk multiple
    3) sizes+=($((r % (MAX / 4) + MAX * 3 / 4))) ;;  # large: 48..64 MiB
  esac
done
log "2. differential against ref-add.mjs, ${#sizes[@]} sizes: ${sizes[*]}"

# All inputs are generated first (about 0.6 GB with the default seed), then one reference
# process per CID version hashes them all in the background (saving Node's start-up per file)
# while s3xfs hashes them in the foreground.
t0=$(now_ns)
files=()
for idx in "${!sizes[@]}"; do
  chacha "diff/$seed/$idx" "${sizes[$idx]}" >"$TMP/in.$idx"
  files+=("$TMP/in.$idx")
done
log "  generated ${#files[@]} inputs in $((($(now_ns) - t0) / 1000000)) ms"
t0=$(now_ns)
ref_add --cid-version 1 "${files[@]}" >"$TMP/ref.1" 2>"$TMP/ref.1.err" &
ref1=$!
ref_add --cid-version 0 "${files[@]}" >"$TMP/ref.0" 2>"$TMP/ref.0.err" &
ref0=$!
for v in 1 0; do
  : >"$TMP/s3.$v"
  for f in "${files[@]}"; do
    s3_hash "$v" "$f" >>"$TMP/s3.$v"
    echo >>"$TMP/s3.$v"
  done
done
t1=$(now_ns)
wait "$ref1" || fail "ref-add.mjs --cid-version 1 failed: $(tr '\n' ' ' <"$TMP/ref.1.err")"
wait "$ref0" || fail "ref-add.mjs --cid-version 0 failed: $(tr '\n' ' ' <"$TMP/ref.0.err")"
log "  s3xfs: $(((t1 - t0) / 1000000)) ms for both versions; reference done after $((($(now_ns) - t0) / 1000000)) ms"
n=0
for v in 1 0; do
  mapfile -t wants <"$TMP/ref.$v"
  mapfile -t gots <"$TMP/s3.$v"
  assert_eq "${#wants[@]}" "${#files[@]}" "number of CIDs printed by ref-add.mjs --cid-version $v"
  for idx in "${!sizes[@]}"; do
    is_cid "${wants[$idx]}" || fail "ref-add printed something odd: '${wants[$idx]}'"
    assert_eq "${gots[$idx]:-}" "${wants[$idx]}" \
      "size ${sizes[$idx]} (seed $seed, input #$idx), cid-version $v: s3xfs vs reference"
    n=$((n + 1))
  done
  log "  ok: cid-version $v: all ${#sizes[@]} sizes match"
done
rm -f "${files[@]}"

# ---------------------------------------------------------------- 3. repeated chunks
log "3. repeated identical chunks (zeros, 3*262144+7 bytes) and stdin input"
head -c $((3 * C + 7)) /dev/zero >"$TMP/in"
for v in 1 0; do
  want=$(ref_add --cid-version "$v" "$TMP/in")
  got=$(s3_hash "$v" "$TMP/in")
  assert_eq "$got" "$want" "zeros 3*262144+7, cid-version $v"
  # stdin through a pipe (not seekable)
  got=$(cat "$TMP/in" | "$S3XFS" add --data-dir "$D" --only-hash --cid-version "$v" -) ||
    fail "s3xfs add --only-hash --cid-version $v - (pipe) failed"
  assert_eq "$got" "$want" "zeros via stdin pipe, cid-version $v"
  n=$((n + 2))
done
for size in 0 $((C + 1)) $((174 * C + 1)); do
  chacha "stdin/$seed/$size" "$size" >"$TMP/in"
  for v in 1 0; do
    want=$(ref_add --cid-version "$v" - <"$TMP/in")
    got=$(cat "$TMP/in" | "$S3XFS" add --data-dir "$D" --only-hash --cid-version "$v" -) ||
      fail "s3xfs add --only-hash --cid-version $v - (pipe, size $size) failed"
    assert_eq "$got" "$want" "stdin pipe size $size, cid-version $v"
    n=$((n + 1))
  done
done
log "  ok"

rm -f "$TMP/in"
log "PASS: $n differential comparisons + vectors in $((($(now_ns) - start) / 1000000)) ms (seed $seed)"
