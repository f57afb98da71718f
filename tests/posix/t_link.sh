#!/usr/bin/env bash
# shellcheck disable=SC2317  # the c_* case bodies are called indirectly, by tcase
# link(2) / linkat(2): hard links, link counts, shared inode and content; errors.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
posix_category link "${1:-}"

c_basic() {
  mkfile a "data"
  is_stat nlink a 1
  expect OK link a b
  is_stat nlink a 2
  is_stat nlink b 2
  eq "$(st ino b)" "$(st ino a)" "ino of b (the ino of a)"
  is_stat type b reg
  is_content b data
}
tcase basic "link makes a second name for the same inode; nlink 2 on both"

c_shared_content() {
  mkfile a "one"
  expect OK link a b
  printf 'two' >b
  is_content a two
  printf '+' >>a
  is_content b two+
  is_stat size a 4
}
tcase shared_content "writes through one name are read through the other"

c_nlink_count() {
  mkfile a
  expect OK link a b
  expect OK link a c
  expect OK link b d
  is_stat nlink a 4
  expect OK unlink b
  is_stat nlink a 3
  is_stat nlink d 3
  expect OK unlink a
  is_stat nlink c 2
  expect OK unlink c
  is_stat nlink d 1
}
tcase nlink_count "nlink counts every name: 4 links, then down as they are unlinked"

c_unlink_original() {
  mkfile a "kept"
  expect OK link a b
  expect OK unlink a
  absent a
  is_stat nlink b 1
  is_content b kept
}
tcase unlink_original "after unlinking the original name the other keeps the data"

c_other_dir() {
  mkdir d1 d2
  mkfile d1/a "x"
  expect OK link d1/a d2/b
  is_stat nlink d1/a 2
  eq "$(st ino d2/b)" "$(st ino d1/a)" "ino of d2/b"
}
tcase other_dir "link into another directory of the same filesystem works (no EXDEV)"

c_mode_owner_shared() {
  mkfile a
  expect OK link a b
  chmod 0600 a
  chown "$POSIX_NOBODY_UID:$POSIX_NOBODY_GID" b
  is_stat mode b 0600
  is_stat uid a "$POSIX_NOBODY_UID"
}
tcase mode_owner_shared "mode and owner changes through one name show through the other"

c_fifo() {
  expect OK mkfifo p
  expect OK link p q
  is_stat type q fifo
  is_stat nlink p 2
}
tcase fifo "a fifo can be hard-linked"

c_symlink_nofollow() {
  mkfile f
  ln -s f l
  expect OK link l l2
  is_stat type l2 lnk
  is_stat nlink l 2
  is_stat nlink f 1
  eq "$(ph readlink l2)" f "readlink of l2"
}
tcase symlink_nofollow "link(2) on a symlink links the symlink itself"

c_symlink_follow() {
  mkfile f
  ln -s f l
  expect OK linkf l f2
  is_stat type f2 reg
  is_stat nlink f 2
  is_stat nlink l 1
}
tcase symlink_follow "linkat(AT_SYMLINK_FOLLOW) on a symlink links its target"

c_eexist() {
  mkfile a
  mkfile b
  mkdir d
  ln -s nowhere l
  expect EEXIST link a b
  expect EEXIST link a d
  expect EEXIST link a l
  expect EEXIST link a a
  is_stat nlink a 1
}
tcase eexist "link onto an existing file, directory, symlink or itself is EEXIST"

c_enoent() {
  expect ENOENT link missing b
  absent b
  mkfile a
  expect ENOENT link a nodir/b
}
tcase enoent "link of a missing source, or into a missing directory, is ENOENT"

c_enotdir() {
  mkfile a
  mkfile f
  expect ENOTDIR link a f/b
  expect ENOTDIR link f/x b
}
tcase enotdir "a regular file as a path prefix (source or target) is ENOTDIR"

c_dir_eperm() {
  mkdir d
  expect EPERM link d d2
  absent d2
}
tcase dir_eperm "link of a directory is EPERM"

c_enametoolong() {
  mkfile a
  expect ENAMETOOLONG link a "$(mkname 256)"
  expect OK link a "$(mkname 255)"
}
tcase enametoolong "link to a 256-byte name is ENAMETOOLONG, a 255-byte name works"

c_ino_distinct() {
  mkfile a
  mkfile b
  ne "$(st ino a)" "$(st ino b)" "ino of b (vs ino of a)"
}
tcase ino_distinct "two separately created files have different inode numbers"

posix_done
