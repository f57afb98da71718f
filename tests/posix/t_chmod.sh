#!/usr/bin/env bash
# shellcheck disable=SC2317  # the c_* case bodies are called indirectly, by tcase
# chmod(2): permission bits of files, directories, fifos; set-id and sticky bits; errors.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
posix_category chmod "${1:-}"

c_file_modes() {
  mkfile f
  local m
  for m in 0000 0111 0400 0644 0600 0755 0777 0123; do
    expect OK chmod f "$m"
    is_stat mode f "$m"
  done
  is_stat type f reg
}
tcase file_modes "chmod sets the permission bits of a regular file"

c_dir_modes() {
  mkdir d
  local m
  for m in 0700 0555 0000 0777 0751; do
    expect OK chmod d "$m"
    is_stat mode d "$m"
  done
  is_stat type d dir
}
tcase dir_modes "chmod sets the permission bits of a directory"

c_fifo_modes() {
  expect OK mkfifo p 0644
  expect OK chmod p 0600
  is_stat mode p 0600
  is_stat type p fifo
}
tcase fifo_modes "chmod sets the permission bits of a fifo"

c_file_setid() {
  mkfile f
  local m
  for m in 4755 2755 6755 1755 7777 4000; do
    expect OK chmod f "$m"
    is_stat mode f "$m"
  done
}
tcase file_setid "root sets set-uid, set-gid and sticky bits on a file"

c_dir_sticky() {
  mkdir d
  expect OK chmod d 1777
  is_stat mode d 1777
  expect OK chmod d 2755
  is_stat mode d 2755
}
tcase dir_sticky "root sets the sticky and set-gid bits on a directory"

c_symlink_follows() {
  mkfile f
  chmod 0644 f
  ln -s f l
  local lmode
  lmode=$(st mode l)
  expect OK chmod l 0600
  is_stat mode f 0600
  is_stat mode l "$lmode"
  is_stat type l lnk
}
tcase symlink_follows "chmod through a symlink changes the target, not the link"

c_content_kept() {
  mkfile f "payload"
  expect OK chmod f 0400
  is_content f payload
  is_stat size f 7
}
tcase content_kept "chmod leaves the content and size alone"

c_enoent() {
  expect ENOENT chmod missing 0644
  expect ENOENT chmod nodir/f 0644
}
tcase enoent "chmod of a missing path is ENOENT"

c_enotdir() {
  mkfile f
  expect ENOTDIR chmod f/x 0644
}
tcase enotdir "chmod with a regular file as a path prefix is ENOTDIR"

c_enametoolong() {
  expect ENAMETOOLONG chmod "$(mkname 256)" 0644
}
tcase enametoolong "chmod of a 256-byte name is ENAMETOOLONG"

c_dangling_symlink() {
  ln -s missing l
  expect ENOENT chmod l 0644
}
tcase dangling_symlink "chmod through a dangling symlink is ENOENT"

c_nonowner_eperm() {
  mkfile f
  chmod 0666 f
  expect_nobody EPERM chmod f 0777
  is_stat mode f 0666
}
tcase nonowner_eperm "chmod by a non-owner (uid 65534 on root's file) is EPERM"

c_nonowner_dir_eperm() {
  mkdir -m 0777 d
  expect_nobody EPERM chmod d 0700
  is_stat mode d 0777
}
tcase nonowner_dir_eperm "chmod of root's 0777 directory by uid 65534 is EPERM"

c_owner_ok() {
  nbfile f 0644
  expect_nobody OK chmod f 0600
  is_stat mode f 0600
  expect_nobody OK chmod f 0000
  is_stat mode f 0000
  expect_nobody OK chmod f 0755
  is_stat mode f 0755
}
tcase owner_ok "the owner (uid 65534) can chmod its own file, even to 0000 and back"

c_owner_sgid_cleared() {
  mkfile f
  chown "$POSIX_NOBODY_UID:0" f
  expect_nobody OK chmod f 2755
  is_stat mode f 0755
}
tcase owner_sgid_cleared "an owner not in the file's group gets S_ISGID silently cleared"

c_owner_sgid_kept() {
  nbfile f 0644
  expect_nobody OK chmod f 2755
  is_stat mode f 2755
}
tcase owner_sgid_kept "an owner in the file's group may set S_ISGID"

c_owner_sticky_file() {
  nbfile f 0644
  expect_nobody OK chmod f 1644
  is_stat mode f 1644
}
tcase owner_sticky_file "an owner may set the sticky bit on a regular file"

posix_done
