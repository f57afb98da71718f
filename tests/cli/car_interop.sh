#!/usr/bin/env bash
# CAR interoperability with ipfs-car (npm, tools/js/node_modules):
#  (a) s3xfs add + export-car  -> ipfs-car roots / ls / blocks / unpack agree and give the bytes back;
#      the exported CAR also re-imports into a fresh s3xfs store;
#  (b) ipfs-car pack (files and a directory) -> s3xfs import-car prints ipfs-car's root, and
#      s3xfs cat of every file CID gives the original bytes; re-export unpacks to the same tree;
#  (c) truncated and corrupted CARs are rejected by import-car (non-zero exit, one stderr line,
#      no root printed, nothing readable).
#
# Usage: tests/cli/car_interop.sh /path/to/s3xfs
#
# ipfs-car 3.x CLI used here: `pack PATH [--no-wrap] --output X.car` (prints the root CID on
# stdout; 1 MiB chunks; a directory becomes the root itself), `roots X.car`, `blocks X.car`
# (verifies hashes), `ls X.car --verbose` (lines "CID<TAB>size<TAB>path", the root first as ".";
# --verbose must come after the CAR path), `unpack X.car --output OUT` (verifies hashes).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
s3xfs_init "$@"
require_node

C=262144
start=$(now_ns)

# s3_ok DESC CMD... : run s3xfs, stdout to caller, fail with stderr on error.
s3_ok() { run_ok "$1" "$S3XFS" "${@:2}"; }

fresh_store() { # NAME -> path of a new empty data dir
  mkdir -p "$TMP/$1"
  printf '%s' "$TMP/$1"
}

# ---------------------------------------------------------------- (a) s3xfs -> ipfs-car
log "(a) s3xfs add + export-car -> ipfs-car"
D=$(fresh_store store-a)
E=$(fresh_store store-a-reimport)
for size in 0 1000 $((C + 1)) $((3 * 1024 * 1024)); do
  f="$TMP/a.$size"
  chacha "car/a/$size" "$size" >"$f"
  for v in 1 0; do
    what="size $size v$v"
    root=$(s3_ok "add ($what)" add --data-dir "$D" --cid-version "$v" "$f")
    is_cid "$root" || fail "add ($what) printed '$root'"
    car="$TMP/a.$size.v$v.car"
    s3_ok "export-car $root ($what)" export-car --data-dir "$D" "$root" >"$car"

    # Header: one root; for a CIDv1 root the 58-byte header starts 3a a2 65 72 6f 6f 74 73 81 d8 2a 58 25 00.
    if [[ $v == 1 ]]; then
      head14=$(head -c 14 "$car" | od -An -tx1 | tr -d ' \n')
      assert_eq "$head14" "3aa265726f6f747381d82a582500" "CARv1 header prefix ($what)"
    fi
    roots=$(run_ok "ipfs-car roots ($what)" ipfs_car roots "$car")
    assert_eq "$roots" "$root" "ipfs-car roots of the exported CAR ($what)"

    # Every block verifies, each appears once, and the count is right.
    run_ok "ipfs-car blocks ($what)" ipfs_car blocks "$car" >"$TMP/blocks"
    nblocks=$(wc -l <"$TMP/blocks")
    nuniq=$(sort -u "$TMP/blocks" | wc -l)
    assert_eq "$nuniq" "$nblocks" "blocks appear once in the exported CAR ($what)"
    leaves=$(((size + C - 1) / C))
    ((leaves > 0)) || leaves=1
    want=$leaves
    ((leaves == 1)) || want=$((leaves + 1))
    assert_eq "$nblocks" "$want" "number of blocks in the exported CAR ($what)"
    assert_eq "$(head -n 1 "$TMP/blocks")" "$root" "first block of the exported CAR is the root ($what)"

    # ls lists the root, with the file size.
    run_ok "ipfs-car ls ($what)" ipfs_car ls "$car" --verbose >"$TMP/ls"
    assert_eq "$(head -n 1 "$TMP/ls")" "$root	$size	." "ipfs-car ls --verbose first line ($what)"

    # unpack gives the original bytes (ipfs-car verifies every block's hash while unpacking).
    rm -f "$TMP/unpacked"
    run_ok "ipfs-car unpack ($what)" ipfs_car unpack "$car" --output "$TMP/unpacked"
    assert_same_file "$TMP/unpacked" "$f" "ipfs-car unpack of s3xfs export-car ($what)"

    # The exported CAR imports into a fresh store and reads back.
    got=$(s3_ok "import-car of the exported CAR ($what)" import-car --data-dir "$E" "$car")
    assert_eq "$got" "$root" "import-car of s3xfs's own CAR prints the root ($what)"
    s3_ok "cat after import ($what)" cat --data-dir "$E" "$root" >"$TMP/out"
    assert_same_file "$TMP/out" "$f" "cat after export-car | import-car ($what)"
    log "  ok: $what: $root ($nblocks blocks)"
    rm -f "$car"
  done
  rm -f "$f"
done
expect_fail "export-car of a CID not in the store" "$S3XFS" export-car --data-dir "$E" \
  bafkreihwsnuregceqh263vgdathcprnbvatyat6h6mu7ipjhhodcdbyhoy

# ---------------------------------------------------------------- (b) ipfs-car -> s3xfs
log "(b) ipfs-car pack -> s3xfs import-car"
D=$(fresh_store store-b)
for size in 1 1000 $((1024 * 1024)) $((3 * 1024 * 1024 + 1)); do
  f="$TMP/b.$size"
  chacha "car/b/$size" "$size" >"$f"
  car="$TMP/b.$size.car"
  want=$(run_ok "ipfs-car pack $size bytes" ipfs_car pack "$f" --no-wrap --output "$car")
  is_cid "$want" || fail "ipfs-car pack printed '$want'"
  got=$(s3_ok "import-car ($size bytes)" import-car --data-dir "$D" "$car")
  assert_eq "$got" "$want" "import-car prints the root ipfs-car reported ($size bytes)"
  s3_ok "cat $want" cat --data-dir "$D" "$want" >"$TMP/out"
  assert_same_file "$TMP/out" "$f" "cat after importing ipfs-car's CAR ($size bytes)"
  # Re-export holds the same set of blocks.
  s3_ok "export-car $want" export-car --data-dir "$D" "$want" >"$TMP/re.car"
  run_ok "ipfs-car blocks" ipfs_car blocks "$car" | sort >"$TMP/blocks.want"
  run_ok "ipfs-car blocks" ipfs_car blocks "$TMP/re.car" | sort >"$TMP/blocks.got"
  assert_same_file "$TMP/blocks.got" "$TMP/blocks.want" "block set of s3xfs re-export vs ipfs-car's CAR ($size bytes)"
  log "  ok: $size bytes: $want"
  [[ $size == $((3 * 1024 * 1024 + 1)) ]] || rm -f "$car" "$f"
done
BIGCAR="$TMP/b.$((3 * 1024 * 1024 + 1)).car" # kept for (c)
BIGFILE="$TMP/b.$((3 * 1024 * 1024 + 1))"
BIGROOT=$(run_ok "ipfs-car roots" ipfs_car roots "$BIGCAR")

# A directory tree.
T="$TMP/tree"
mkdir -p "$T/sub/deeper" "$T/other"
printf 'hello world' >"$T/hello.txt"
: >"$T/empty"
chacha car/dir/1 $((C + 1)) >"$T/sub/chunky.bin"
chacha car/dir/2 $((1536 * 1024)) >"$T/sub/deeper/big.bin"
chacha car/dir/3 777 >"$T/other/small"
printf 'x' >"$T/other/z"
printf 'name with spaces' >"$T/other/name with spaces.txt"
car="$TMP/dir.car"
want=$(run_ok "ipfs-car pack DIR" ipfs_car pack "$T" --output "$car")
is_cid "$want" || fail "ipfs-car pack DIR printed '$want'"
got=$(s3_ok "import-car (directory)" import-car --data-dir "$D" "$car")
assert_eq "$got" "$want" "import-car prints the directory root ipfs-car reported"
log "  ok: directory imported: $want"
run_ok "ipfs-car ls (dir)" ipfs_car ls "$car" --verbose >"$TMP/ls"
head -n 1 "$TMP/ls" | grep -q "^$want	-	\.\$" || fail "ipfs-car ls: unexpected first line: $(head -n 1 "$TMP/ls")"
nfiles=0
while IFS=$'\t' read -r cid size path; do
  [[ $size == - ]] && continue
  rel=${path#./}
  s3_ok "cat $cid ($rel)" cat --data-dir "$D" "$cid" >"$TMP/out"
  assert_same_file "$TMP/out" "$T/$rel" "s3xfs cat of $rel ($cid) from the imported directory"
  nfiles=$((nfiles + 1))
done <"$TMP/ls"
assert_eq "$nfiles" 7 "files listed in the directory CAR"
log "  ok: cat of all $nfiles files in the imported directory"
expect_fail "cat of a directory CID" "$S3XFS" cat --data-dir "$D" "$want"
s3_ok "export-car (dir)" export-car --data-dir "$D" "$want" >"$TMP/dir-re.car"
rm -rf "$TMP/tree-out"
run_ok "ipfs-car unpack (dir re-export)" ipfs_car unpack "$TMP/dir-re.car" --output "$TMP/tree-out"
diff -r "$TMP/tree-out" "$T" >/dev/null || fail "unpacked s3xfs re-export of the directory differs: $(diff -r "$TMP/tree-out" "$T" | head -5)"
log "  ok: s3xfs export-car of the directory unpacks to the same tree"

# ---------------------------------------------------------------- (c) bad CARs
log "(c) truncated and corrupted CARs are rejected"
carsize=$(stat -c %s "$BIGCAR")
# Layout of BIGCAR: varint(header length) header, then sections. Find the first block's data.
hlen=$(od -An -tu1 -N1 "$BIGCAR" | tr -d ' ')
((hlen < 128)) || fail "unexpected header length varint in $BIGCAR"
sec=$((1 + hlen))                        # offset of the first section's length varint
vlen=0
while :; do
  b=$(od -An -tu1 -j $((sec + vlen)) -N1 "$BIGCAR" | tr -d ' ')
  vlen=$((vlen + 1))
  ((b < 128)) && break
done
cid0=$((sec + vlen))                     # first block's CID (CIDv1: 36 bytes)
data0=$((cid0 + 36))                     # first block's data

flip() { # SRC DST OFFSET: copy SRC to DST with the byte at OFFSET inverted
  cp "$1" "$2"
  local old new
  old=$(od -An -tu1 -j "$3" -N1 "$1" | tr -d ' ')
  new=$((old ^ 0xff))
  # shellcheck disable=SC2059  # the format is the escaped byte itself
  printf "$(printf '\\%03o' "$new")" | dd of="$2" bs=1 seek="$3" conv=notrunc status=none
}
reject() { # DESC CARFILE
  local S
  S=$(fresh_store "bad.$RANDOM$RANDOM")
  expect_fail "import-car rejects: $1" "$S3XFS" import-car --data-dir "$S" "$2"
  [[ -z "$FAIL_STDOUT" ]] || fail "import-car of a bad CAR ($1) printed a root anyway: $FAIL_STDOUT"
  # Nothing wrong may be readable afterwards: the root must not cat successfully.
  expect_fail "cat after rejected import ($1)" "$S3XFS" cat --data-dir "$S" "$BIGROOT"
}
# (Cuts exactly at a section boundary would leave a well-formed CAR with fewer blocks: avoided.)
for cut in 5 $((hlen - 3)) $((sec + 1)) $((data0 + 100)) $((carsize / 2)) $((carsize - 1)); do
  head -c "$cut" "$BIGCAR" >"$TMP/trunc.car"
  reject "truncated to $cut of $carsize bytes" "$TMP/trunc.car"
done
flip "$BIGCAR" "$TMP/flip.car" $((data0 + 100))
reject "flipped byte in the first leaf's data (offset $((data0 + 100)))" "$TMP/flip.car"
flip "$BIGCAR" "$TMP/flip.car" $((carsize - 1))
reject "flipped last byte (in the root block)" "$TMP/flip.car"
flip "$BIGCAR" "$TMP/flip.car" $((cid0 + 20))
reject "flipped byte in the first block's CID digest" "$TMP/flip.car"
: >"$TMP/emptyfile.car"
reject "empty file" "$TMP/emptyfile.car"
expect_fail "import-car of a missing file" "$S3XFS" import-car --data-dir "$D" "$TMP/no-such.car"
# The untouched CAR still imports (the checks above are not false positives).
S=$(fresh_store good-c)
got=$(s3_ok "import-car (intact CAR)" import-car --data-dir "$S" "$BIGCAR")
s3_ok "cat after intact import" cat --data-dir "$S" "$got" >"$TMP/out"
assert_same_file "$TMP/out" "$BIGFILE" "cat after importing the intact CAR"
log "  ok: the intact CAR still imports"

log "PASS: CAR interop in $((($(now_ns) - start) / 1000000)) ms"
