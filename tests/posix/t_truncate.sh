#!/usr/bin/env bash
# shellcheck disable=SC2317  # the c_* case bodies are called indirectly, by tcase
# truncate(2) / ftruncate(2): shrinking, growing with zeros, large sizes; errors.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
posix_category truncate "${1:-}"

c_shrink() {
  mkfile f "0123456789"
  expect OK truncate f 4
  is_stat size f 4
  is_content f 0123
}
tcase shrink "truncate to a smaller size keeps the prefix"

c_grow_zeros() {
  mkfile f "abc"
  expect OK truncate f 4096
  is_stat size f 4096
  { printf 'abc'; head -c 4093 /dev/zero; } >ref.bin
  same_bytes f ref.bin
}
tcase grow_zeros "truncate to a larger size zero-fills the new bytes"

c_zero() {
  mkfile f "data"
  expect OK truncate f 0
  is_stat size f 0
  is_content f ""
}
tcase zero "truncate to 0 empties the file"

c_same_size() {
  mkfile f "data"
  expect OK truncate f 4
  is_content f data
}
tcase same_size "truncate to the current size changes nothing"

c_efbig() {
  # pjdfstest truncate/12.t and ftruncate/12.t: a huge length is EFBIG (or works); it must not
  # hang or wrap. The mount holds files up to 1 TiB.
  mkfile f "data"
  expect EFBIG truncate f 999999999999999
  expect EFBIG ftruncate f 999999999999999
  is_stat size f 4
  is_content f data
}
tcase efbig "truncate and ftruncate to 999999999999999 bytes are EFBIG and change nothing"

c_shrink_grow() {
  mkfile f "abcdefgh"
  expect OK truncate f 2
  expect OK truncate f 6
  eq "$(ph pread f 0 100)" "hex:616200000000" "content after shrink to 2 and grow to 6"
}
tcase shrink_grow "bytes cut by a shrink read back as zeros after growing again"

c_large() {
  mkfile f
  expect OK truncate f 3221225472
  is_stat size f 3221225472
  eq "$(ph pread f 3221225470 10)" "hex:0000" "last 2 bytes of a 3 GiB sparse file"
  expect OK pwrite f 3221225471 Z
  eq "$(ph pread f 3221225470 10)" "hex:005a" "last 2 bytes after writing the last one"
  expect OK truncate f 1
  is_stat size f 1
}
tcase large "truncate beyond 2^31 (3 GiB, sparse) works; the end reads as zeros"

c_ftruncate() {
  mkfile f "0123456789"
  expect OK ftruncate f 3
  is_content f 012
  expect OK ftruncate f 5
  eq "$(ph pread f 0 10)" "hex:3031320000" "content after ftruncate to 5"
}
tcase ftruncate "ftruncate on an open descriptor shrinks and grows"

c_symlink_follows() {
  mkfile f "0123456789"
  ln -s f l
  expect OK truncate l 2
  is_content f 01
  is_stat type l lnk
}
tcase symlink_follows "truncate through a symlink truncates the target"

c_ino_kept() {
  mkfile f "0123456789"
  local ino
  ino=$(st ino f)
  expect OK truncate f 1
  expect OK truncate f 100000
  is_stat ino f "$ino"
}
tcase ino_kept "truncate keeps the inode number"

c_eisdir() {
  mkdir d
  expect EISDIR truncate d 0
  expect EISDIR open d "O_WRONLY|O_TRUNC"
}
tcase eisdir "truncate of a directory is EISDIR"

c_einval_negative() {
  mkfile f "data"
  expect EINVAL truncate f -1
  is_content f data
}
tcase einval_negative "truncate to a negative length is EINVAL"

c_enoent() {
  expect ENOENT truncate missing 0
  absent missing
}
tcase enoent "truncate of a missing file is ENOENT (and does not create it)"

c_enotdir() {
  mkfile f
  expect ENOTDIR truncate f/x 0
}
tcase enotdir "truncate with a file as path prefix is ENOTDIR"

c_enametoolong() {
  expect ENAMETOOLONG truncate "$(mkname 256)" 0
}
tcase enametoolong "truncate of a 256-byte name is ENAMETOOLONG"

c_nobody_eacces() {
  mkfile f "data"
  chmod 0644 f
  expect_nobody EACCES truncate f 0
  is_content f data
}
tcase nobody_eacces "truncate of a file uid 65534 may not write is EACCES"

c_nobody_writable() {
  mkfile f "data"
  chmod 0666 f
  expect_nobody OK truncate f 1
  is_content f d
}
tcase nobody_writable "truncate by uid 65534 of a world-writable file works"

posix_done
