#!/usr/bin/env bash
# shellcheck disable=SC2317  # the c_* case bodies are called indirectly, by tcase
# Permission checks for an unprivileged user (uid/gid 65534, no supplementary groups):
# owner/group/other classes, directory search/read/write bits, the sticky bit, root's
# override. Setup runs as root; the checked call runs as uid 65534 (expect_nobody).
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
posix_category perms "${1:-}"

N=$POSIX_NOBODY_UID
G=$POSIX_NOBODY_GID

c_read_0444() {
  mkfile f "readable"
  chmod 0444 f
  expect_nobody readable read f
}
tcase read_0444 "uid 65534 can read a 0444 file of root's"

c_write_0444_eacces() {
  mkfile f "keep"
  chmod 0444 f
  expect_nobody EACCES open f O_WRONLY
  expect_nobody EACCES open f O_RDWR
  expect_nobody EACCES open f "O_WRONLY|O_TRUNC"
  is_content f keep
}
tcase write_0444_eacces "uid 65534 opening root's 0444 file for writing is EACCES"

c_owner_0444_eacces() {
  nbfile f 0444 "keep"
  expect_nobody EACCES open f O_WRONLY
  is_content f keep
}
tcase owner_0444_eacces "even the owner cannot open its 0444 file for writing (EACCES)"

c_read_0600_eacces() {
  mkfile f "secret"
  chmod 0600 f
  expect_nobody EACCES open f O_RDONLY
}
tcase read_0600_eacces "uid 65534 reading root's 0600 file is EACCES"

c_write_0666() {
  mkfile f "old"
  chmod 0666 f
  expect_nobody OK write f "new"
  is_content f new
  is_stat uid f 0
}
tcase write_0666 "uid 65534 can write root's 0666 file; the owner stays root"

c_owner_class_wins() {
  nbfile f 0077 "x"
  expect_nobody EACCES open f O_RDONLY
  expect_nobody EACCES open f O_WRONLY
}
tcase owner_class_wins "the owner class applies to the owner even when group/other allow more"

c_group_class() {
  mkfile f "grp"
  chown "0:$G" f
  chmod 0040 f
  expect_nobody grp read f
  chmod 0704 f
  expect_nobody EACCES open f O_RDONLY
}
tcase group_class "group bits apply to a group member: 0040 allows read, 0704 denies it"

c_create_0555_eacces() {
  mkdir -m 0555 d
  expect_nobody EACCES open d/f "O_WRONLY|O_CREAT"
  expect_nobody EACCES mkdir d/sub
  expect_nobody EACCES mkfifo d/p
  expect_nobody EACCES symlink t d/l
  eq "$(ph listdir d)" "" "entries of d"
}
tcase create_0555_eacces "creating anything in a 0555 directory as uid 65534 is EACCES"

c_create_root_0755_eacces() {
  mkdir -m 0755 d
  expect_nobody EACCES open d/f "O_WRONLY|O_CREAT"
}
tcase create_root_0755_eacces "creating in root's 0755 directory as uid 65534 is EACCES"

c_create_0777() {
  mkdir -m 0777 d
  expect_nobody OK open d/f "O_WRONLY|O_CREAT" 0640
  is_stat uid d/f "$N"
  is_stat gid d/f "$G"
  is_stat mode d/f 0640
}
tcase create_0777 "uid 65534 can create in a 0777 directory; it owns the new file"

c_owner_dir_0555_eacces() {
  nbdir d 0555
  expect_nobody EACCES open d/f "O_WRONLY|O_CREAT"
}
tcase owner_dir_0555_eacces "the owner of a 0555 directory cannot create in it (EACCES)"

c_unlink_0555_eacces() {
  mkdir d
  mkfile d/f
  chmod 0777 d/f
  chmod 0555 d
  expect_nobody EACCES unlink d/f
  exists d/f
}
tcase unlink_0555_eacces "unlink in a 0555 directory as uid 65534 is EACCES, whatever the file's mode"

c_rename_0555_eacces() {
  mkdir -m 0777 dst
  mkdir d
  nbfile d/f
  chmod 0555 d
  expect_nobody EACCES rename d/f dst/f
  expect_nobody EACCES rename d/f d/g
  exists d/f
}
tcase rename_0555_eacces "renaming out of or within a 0555 directory is EACCES"

c_rmdir_0555_eacces() {
  mkdir -p d/sub
  chmod 0555 d
  expect_nobody EACCES rmdir d/sub
}
tcase rmdir_0555_eacces "rmdir in a 0555 directory as uid 65534 is EACCES"

c_link_0555_eacces() {
  nbfile f
  mkdir -m 0555 d
  expect_nobody EACCES link f d/g
}
tcase link_0555_eacces "link into a 0555 directory as uid 65534 is EACCES"

c_search_eacces() {
  mkdir -m 0755 d
  mkfile d/f "x"
  chmod 0666 d
  expect_nobody EACCES stat type d/f
  expect_nobody EACCES open d/f O_RDONLY
}
tcase search_eacces "without search (x) permission on a directory, its entries are EACCES"

c_list_without_read() {
  mkdir -m 0755 d
  mkfile d/f "x"
  chmod 0711 d
  expect_nobody EACCES listdir d
  expect_nobody x read d/f
}
tcase list_without_read "with x but not r on a directory: readdir is EACCES, a known name opens"

c_list_without_search() {
  mkdir -m 0755 d
  mkfile d/f
  chmod 0744 d
  expect_nobody f listdir d
  expect_nobody EACCES stat type d/f
}
tcase list_without_search "with r but not x on a directory: readdir works, stat of an entry is EACCES"

c_nested_search() {
  mkdir -p a/b/c
  mkfile a/b/c/f "deep"
  chmod 0700 a/b
  expect_nobody EACCES read a/b/c/f
  chmod 0711 a/b
  expect_nobody deep read a/b/c/f
}
tcase nested_search "search permission is needed on every directory of the path"

c_sticky_other_eperm() {
  mkdir -m 1777 t
  mkfile t/f
  mkdir t/d
  chmod 0777 t/f t/d
  expect_nobody EPERM unlink t/f
  expect_nobody EPERM rename t/f t/g
  expect_nobody EPERM rmdir t/d
  exists t/f
  exists t/d
}
tcase sticky_other_eperm "sticky directory: uid 65534 cannot unlink/rename/rmdir root's entries (EPERM)"

c_sticky_own_ok() {
  mkdir -m 1777 t
  expect_nobody OK open t/f "O_WRONLY|O_CREAT"
  expect_nobody OK rename t/f t/g
  expect_nobody OK unlink t/g
  absent t/g
}
tcase sticky_own_ok "sticky directory: uid 65534 can rename and unlink its own entries"

c_sticky_dir_owner_ok() {
  nbdir t 1777
  mkfile t/f
  expect_nobody OK unlink t/f
  absent t/f
}
tcase sticky_dir_owner_ok "sticky directory: the directory's owner can unlink others' entries"

c_nonsticky_other_ok() {
  mkdir -m 0777 d
  mkfile d/f
  chmod 0600 d/f
  expect_nobody OK unlink d/f
  absent d/f
}
tcase nonsticky_other_ok "without the sticky bit, a writable directory lets uid 65534 unlink root's file"

c_sticky_replace_eperm() {
  mkdir -m 1777 t
  mkfile t/victim
  expect_nobody OK open t/mine "O_WRONLY|O_CREAT"
  expect_nobody EPERM rename t/mine t/victim
  is_stat uid t/victim 0
}
tcase sticky_replace_eperm "sticky directory: renaming over root's entry is EPERM"

c_dir_rename_needs_write() {
  mkdir -m 0777 p1 p2
  mkdir p1/d
  chmod 0755 p1/d
  expect_nobody EACCES rename p1/d p2/d
  exists p1/d
  nbdir p1/mine
  expect_nobody OK rename p1/mine p2/mine
}
tcase dir_rename_needs_write "moving a directory to another parent needs write permission on it (for ..)"

c_exec_perm() {
  printf '#!/bin/sh\necho RAN\n' >s
  chmod 0744 s
  expect_nobody EACCES exec ./s
  chmod 0755 s
  expect_nobody RAN exec ./s
}
tcase exec_perm "exec needs the x bit for the caller's class (0744: EACCES, 0755: runs)"

c_root_bypass() {
  mkfile f "root reads"
  chmod 0000 f
  expect "root reads" read f
  expect OK write f "root writes" O_WRONLY
  is_content f "root writes"
  mkdir -m 0000 d
  expect OK open d/new "O_WRONLY|O_CREAT"
}
tcase root_bypass "root reads and writes a 0000 file and creates in a 0000 directory"

c_root_exec_needs_x() {
  printf '#!/bin/sh\necho RAN\n' >s
  chmod 0644 s
  expect EACCES exec ./s
  chmod 0744 s
  expect RAN exec ./s
}
tcase root_exec_needs_x "root cannot exec a file without any x bit (EACCES), with one it can"

c_chmod_takes_effect() {
  mkfile f "x"
  chmod 0644 f
  expect_nobody x read f
  chmod 0600 f
  expect_nobody EACCES open f O_RDONLY
  chmod 0604 f
  expect_nobody x read f
}
tcase chmod_takes_effect "permission changes take effect at once for the next open"

posix_done
