#!/usr/bin/env bash
# shellcheck disable=SC2317  # the c_* case bodies are called indirectly, by tcase
# chown(2) / lchown(2): ownership changes by root and by an unprivileged owner; errors.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
posix_category chown "${1:-}"

N=$POSIX_NOBODY_UID
G=$POSIX_NOBODY_GID

c_root_file() {
  mkfile f
  is_stat uid f 0
  is_stat gid f 0
  expect OK chown f "$N" "$G"
  is_stat uid f "$N"
  is_stat gid f "$G"
  expect OK chown f 0 0
  is_stat uid f 0
  is_stat gid f 0
}
tcase root_file "root changes the owner and group of a file"

c_root_dir() {
  mkdir d
  expect OK chown d "$N" "$G"
  is_stat uid d "$N"
  is_stat gid d "$G"
}
tcase root_dir "root changes the owner and group of a directory"

c_root_fifo() {
  expect OK mkfifo p
  expect OK chown p "$N" "$G"
  is_stat uid p "$N"
  is_stat gid p "$G"
}
tcase root_fifo "root changes the owner and group of a fifo"

c_arbitrary_ids() {
  mkfile f
  expect OK chown f 123456 654321
  is_stat uid f 123456
  is_stat gid f 654321
}
tcase arbitrary_ids "ids without a passwd entry (123456:654321) are stored as given"

c_uid_only() {
  mkfile f
  expect OK chown f 0 "$G"
  expect OK chown f "$N" -1
  is_stat uid f "$N"
  is_stat gid f "$G"
}
tcase uid_only "chown with gid -1 changes only the owner"

c_gid_only() {
  mkfile f
  expect OK chown f "$N" 0
  expect OK chown f -1 "$G"
  is_stat uid f "$N"
  is_stat gid f "$G"
}
tcase gid_only "chown with uid -1 changes only the group"

c_symlink_follows() {
  mkfile f
  ln -s f l
  expect OK chown l "$N" "$G"
  is_stat uid f "$N"
  is_stat gid f "$G"
  is_stat uid l 0
  is_stat gid l 0
}
tcase symlink_follows "chown through a symlink changes the target, not the link"

c_lchown() {
  mkfile f
  ln -s f l
  expect OK lchown l "$N" "$G"
  is_stat uid l "$N"
  is_stat gid l "$G"
  is_stat uid f 0
  is_stat gid f 0
}
tcase lchown "lchown changes the symlink itself, not the target"

c_clears_setuid() {
  mkfile f
  chmod 06755 f
  is_stat mode f 6755
  expect OK chown f "$N" "$G"
  is_stat mode f 0755
}
tcase clears_setuid "chown of an executable file by root clears set-uid and set-gid"

c_dir_keeps_setgid() {
  mkdir d
  chmod 02755 d
  expect OK chown d "$N" "$G"
  is_stat mode d 2755
}
tcase dir_keeps_setgid "chown of a directory keeps its set-gid bit"

c_mode_kept() {
  mkfile f
  chmod 0640 f
  expect OK chown f "$N" "$G"
  is_stat mode f 0640
}
tcase mode_kept "chown keeps the permission bits of a file"

c_enoent() {
  expect ENOENT chown missing 0 0
  expect ENOENT lchown missing 0 0
}
tcase enoent "chown/lchown of a missing path is ENOENT"

c_enotdir() {
  mkfile f
  expect ENOTDIR chown f/x 0 0
}
tcase enotdir "chown with a regular file as a path prefix is ENOTDIR"

c_enametoolong() {
  expect ENAMETOOLONG chown "$(mkname 256)" 0 0
}
tcase enametoolong "chown of a 256-byte name is ENAMETOOLONG"

c_nonowner_eperm() {
  mkfile f
  chmod 0666 f
  expect_nobody EPERM chown f "$N" "$G"
  is_stat uid f 0
  is_stat gid f 0
}
tcase nonowner_eperm "uid 65534 cannot take ownership of root's file (EPERM)"

c_owner_give_away_eperm() {
  nbfile f
  expect_nobody EPERM chown f 0 -1
  is_stat uid f "$N"
}
tcase owner_give_away_eperm "an unprivileged owner cannot give its file away (EPERM)"

c_owner_chgrp_member() {
  mkfile f
  chown "$N:0" f
  expect_nobody OK chown f -1 "$G"
  is_stat uid f "$N"
  is_stat gid f "$G"
}
tcase owner_chgrp_member "an unprivileged owner may change the group to its own group"

c_owner_chgrp_nonmember_eperm() {
  nbfile f
  expect_nobody EPERM chown f -1 0
  is_stat gid f "$G"
}
tcase owner_chgrp_nonmember_eperm "an unprivileged owner cannot change the group to one it is not in (EPERM)"

c_owner_noop() {
  nbfile f
  expect_nobody OK chown f "$N" "$G"
  expect_nobody OK chown f -1 -1
  is_stat uid f "$N"
  is_stat gid f "$G"
}
tcase owner_noop "an unprivileged owner may chown to its own uid/gid (no change)"

c_owner_chgrp_clears_setuid() {
  mkfile f
  chown "$N:0" f
  chmod 04755 f
  expect_nobody OK chown f -1 "$G"
  is_stat mode f 0755
}
tcase owner_chgrp_clears_setuid "chgrp by an unprivileged owner clears set-uid"

posix_done
