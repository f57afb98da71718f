#!/usr/bin/env bash
# shellcheck disable=SC2317  # the c_* case bodies are called indirectly, by tcase
# File I/O: sequential and random-offset writes and reads, sparse files, O_APPEND, pwrite past
# EOF, ftruncate on open files, unlink/rename of open files, fsync/fdatasync, inode stability.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
posix_category io "${1:-}"

# rand_file PATH BYTES SEED: deterministic pseudo-random content (sha256 counter stream)
rand_file() {
  "$POSIX_PY" -I -S -c '
import hashlib, sys
n, seed = int(sys.argv[2]), sys.argv[3].encode()
with open(sys.argv[1], "wb") as f:
    i = 0
    while n > 0:
        b = hashlib.sha256(seed + i.to_bytes(8, "little")).digest() * 128
        f.write(b[:n]); n -= len(b[:n]); i += 1
' "$1" "$2" "$3"
}

c_write_read() {
  printf 'hello, world\n' >f
  is_stat size f 13
  is_content f "hello, world"
  eq "$(ph pread f 7 5)" world "pread of 5 bytes at 7"
}
tcase write_read "bytes written are read back; size matches"

c_large_sequential() {
  rand_file ref.bin 8388613 seq  # 8 MiB + 5: not block-aligned
  cp ref.bin f
  is_stat size f 8388613
  same_bytes f ref.bin
  eq "$(sha256sum <f | cut -c1-64)" "$(sha256sum <ref.bin | cut -c1-64)" "sha256 of the copy"
}
tcase large_sequential "an 8 MiB + 5 byte file is written and read back byte for byte"

c_small_writes() {
  local i
  for ((i = 0; i < 500; i++)); do printf '%04d\n' "$i"; done >ref.txt
  for ((i = 0; i < 500; i++)); do printf '%04d\n' "$i" >>f; done
  same_bytes f ref.txt
}
tcase small_writes "500 small appends (open, write 5 bytes, close each time) add up exactly"

c_random_offsets() {
  expect OK randio f 1 400 1048576
}
tcase random_offsets "400 random pwrite/pread (1 B..128 KiB, 1 MiB range) match an in-memory model"

c_random_offsets_wide() {
  expect OK randio f 2 150 67108864
}
tcase random_offsets_wide "150 random pwrite/pread over a 64 MiB range match an in-memory model"

c_sparse() {
  expect OK pwrite f 10485760 X
  is_stat size f 10485761
  eq "$(ph pread f 0 8)" "hex:0000000000000000" "first bytes of the hole"
  eq "$(ph pread f 10485756 8)" "hex:0000000058" "end of the hole and the byte written"
  head -c 10485760 /dev/zero >zeros
  printf X >>zeros
  same_bytes f zeros
}
tcase sparse "a write at 10 MiB into an empty file leaves a hole that reads as zeros"

c_pwrite_past_eof() {
  mkfile f "abc"
  expect OK pwrite f 100 "xyz"
  is_stat size f 103
  { printf 'abc'; head -c 97 /dev/zero; printf 'xyz'; } >ref.bin
  same_bytes f ref.bin
}
tcase pwrite_past_eof "pwrite past EOF zero-fills the gap"

c_overwrite_middle() {
  mkfile f "0123456789"
  expect OK pwrite f 3 "abc"
  is_stat size f 10
  is_content f 012abc6789
}
tcase overwrite_middle "overwriting in the middle keeps the size and the other bytes"

c_read_past_eof() {
  mkfile f "abc"
  eq "$(ph pread f 3 10)" "" "pread at EOF"
  eq "$(ph pread f 100 10)" "" "pread past EOF"
  eq "$(ph pread f 1 10)" "bc" "pread crossing EOF"
}
tcase read_past_eof "reads at or past EOF return no bytes; a read crossing EOF is short"

c_append() {
  expect OK append f
}
tcase append "O_APPEND writes land at EOF even after lseek, from two descriptors"

c_append_shell() {
  printf 'one\n' >f
  printf 'two\n' >>f
  printf 'three\n' >>f
  is_content f "one
two
three"
}
tcase append_shell "shell >> appends"

c_ftruncate_io() {
  expect OK ftruncate-io f
}
tcase ftruncate_io "ftruncate grow/shrink on an open descriptor, with reads and writes between"

c_two_fds() {
  expect OK two-fds f
}
tcase two_fds "data written through one descriptor is read through another at once"

c_unlink_open() {
  expect OK unlink-open f
}
tcase unlink_open "an unlinked open file stays readable and writable until closed"

c_rename_over_open() {
  expect OK rename-over-open a b
}
tcase rename_over_open "a descriptor open on a file replaced by rename keeps the old file"

c_fsync() {
  mkfile f "data"
  expect OK fsync f
  mkdir d
  expect OK fsync d
  expect OK fdatasync f
  is_content f datax
}
tcase fsync "fsync on a file and a directory, and fdatasync after a write, succeed"

c_sync_cmd() {
  mkfile f "data"
  sync f
  sync -d f
  is_content f data
}
tcase sync_cmd "sync FILE and sync -d FILE succeed"

c_ino_stable() {
  mkfile f "0123"
  local ino
  ino=$(st ino f)
  printf 'more' >>f
  expect OK pwrite f 100 x
  expect OK truncate f 2
  expect OK chmod f 0600
  is_stat ino f "$ino"
  ln f g
  mv g h
  is_stat ino h "$ino"
}
tcase ino_stable "st_ino stays the same across writes, truncate, chmod, link and rename"

c_ino_unique() {
  mkdir d
  local i
  for ((i = 0; i < 50; i++)); do : >"d/f$i"; done
  mkdir d/sub
  eq "$(stat -c %i d/* | sort -u | wc -l)" 51 "distinct inode numbers among 51 entries"
}
tcase ino_unique "51 entries of one directory have 51 distinct inode numbers"

c_copy_tree() {
  mkdir -p src/a/b
  rand_file src/a/b/big 300000 tree
  printf 'small' >src/a/small
  ln -s b/big src/a/link
  cp -a src dst
  diff -r src dst >/dev/null || fail "diff -r of the copied tree reports differences"
  eq "$(ph readlink dst/a/link)" b/big "readlink in the copy"
  rm -r src
  rm -r dst
  eq "$(ph listdir .)" "" "entries after rm -r"
}
tcase copy_tree "cp -a of a small tree reproduces it (diff -r); rm -r removes both"

c_blocks() {
  rand_file f 65536 blk
  ge "$(st blocks f)" 128 "st_blocks (512-byte units) of a 64 KiB file"
}
tcase blocks "st_blocks of a 64 KiB file of data is at least 128 (512-byte units)"

posix_done
