#!/usr/bin/env bash
# shellcheck disable=SC2317  # the c_* case bodies are called indirectly, by tcase
# rename(2) / renameat2(2): files, directories, replacement rules, RENAME_NOREPLACE and
# RENAME_EXCHANGE, inode stability, directory link counts; errors.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
posix_category rename "${1:-}"

c_file() {
  mkfile a "data"
  local ino
  ino=$(st ino a)
  expect OK rename a b
  absent a
  is_content b data
  is_stat ino b "$ino"
  is_stat nlink b 1
}
tcase file "rename moves a file to a new name; content and ino are kept"

c_file_over_file() {
  mkfile a "new"
  mkfile b "old"
  local ino
  ino=$(st ino a)
  expect OK rename a b
  absent a
  is_content b new
  is_stat ino b "$ino"
}
tcase file_over_file "rename over an existing file replaces it"

c_over_hardlink() {
  mkfile a "new"
  mkfile b "old"
  ln b c
  is_stat nlink c 2
  expect OK rename a b
  is_stat nlink c 1
  is_content c old
  is_content b new
}
tcase over_hardlink "replacing one name of a hard-linked file decrements its nlink"

c_same_inode() {
  mkfile a "x"
  ln a b
  expect OK rename a b
  exists a
  exists b
  is_stat nlink a 2
}
tcase same_inode "rename between two hard links of one file succeeds and does nothing"

c_same_name() {
  mkfile a "x"
  expect OK rename a a
  is_content a x
  mkdir d
  expect OK rename d d
  is_stat type d dir
}
tcase same_name "rename of a name onto itself succeeds and does nothing"

c_dir() {
  mkdir d
  mkfile d/f "inside"
  mkdir d/sub
  local ino
  ino=$(st ino d)
  expect OK rename d e
  absent d
  is_stat ino e "$ino"
  is_content e/f inside
  is_stat type e/sub dir
}
tcase dir "rename moves a directory with its contents; ino is kept"

c_dir_over_empty_dir() {
  mkdir a b
  mkfile a/f
  expect OK rename a b
  absent a
  exists b/f
}
tcase dir_over_empty_dir "rename of a directory over an empty directory replaces it"

c_dir_over_nonempty() {
  mkdir a b
  mkfile b/f
  expect ENOTEMPTY rename a b
  exists a
  exists b/f
}
tcase dir_over_nonempty "rename of a directory over a non-empty directory is ENOTEMPTY"

c_file_over_dir() {
  mkfile a
  mkdir d
  expect EISDIR rename a d
  is_stat type d dir
  exists a
}
tcase file_over_dir "rename of a file over a directory is EISDIR"

c_dir_over_file() {
  mkdir d
  mkfile f
  expect ENOTDIR rename d f
  is_stat type f reg
  is_stat type d dir
}
tcase dir_over_file "rename of a directory over a file is ENOTDIR"

c_into_own_subdir() {
  mkdir -p a/b/c
  expect EINVAL rename a a/b/c/x
  expect EINVAL rename a a/x
  is_stat type a/b/c dir
}
tcase into_own_subdir "rename of a directory into its own subdirectory is EINVAL"

c_enoent() {
  expect ENOENT rename missing b
  absent b
  mkfile a
  expect ENOENT rename a nodir/b
  exists a
}
tcase enoent "rename of a missing source, or into a missing directory, is ENOENT"

c_enotdir() {
  mkfile a
  mkfile f
  expect ENOTDIR rename a f/b
  expect ENOTDIR rename f/x b
}
tcase enotdir "a regular file as a path prefix (source or target) is ENOTDIR"

c_trailing_slash_file() {
  mkfile a
  expect ENOTDIR rename a b/
  expect ENOTDIR rename a/ b
  exists a
}
tcase trailing_slash_file "rename of a file with a trailing slash on either name is ENOTDIR"

c_enametoolong() {
  mkfile a
  expect ENAMETOOLONG rename a "$(mkname 256)"
  exists a
  expect OK rename a "$(mkname 255)"
}
tcase enametoolong "rename to a 256-byte name is ENAMETOOLONG, a 255-byte name works"

c_other_dir() {
  mkdir d1 d2
  mkfile d1/a "x"
  mkdir d1/sub
  expect OK rename d1/a d2/a
  expect OK rename d1/sub d2/sub
  absent d1/a
  is_content d2/a x
  is_stat type d2/sub dir
}
tcase other_dir "rename of a file and a directory into another directory works (no EXDEV)"

c_dotdot() {
  mkdir -p p1/d p2
  expect OK rename p1/d p2/d
  eq "$(st ino p2/d/..)" "$(st ino p2)" "ino of p2/d/.. (the ino of p2)"
}
tcase dotdot "after moving a directory, its .. is the new parent"

c_symlink() {
  mkfile f
  ln -s f l
  expect OK rename l m
  is_stat type m lnk
  eq "$(ph readlink m)" f "readlink of the moved symlink"
  is_stat type f reg
}
tcase symlink "rename of a symlink moves the link, not its target"

c_over_symlink() {
  mkfile target "t"
  ln -s target l
  mkfile a "a"
  expect OK rename a l
  is_stat type l reg
  is_content target t
}
tcase over_symlink "rename over a symlink replaces the link, not its target"

c_noreplace() {
  mkfile a "a"
  mkfile b "b"
  expect EEXIST rename2 NOREPLACE a b
  is_content a a
  is_content b b
  expect OK rename2 NOREPLACE a c
  absent a
  is_content c a
}
tcase noreplace "renameat2 RENAME_NOREPLACE onto an existing name is EEXIST, else renames"

c_exchange_files() {
  mkfile a "AAA"
  mkfile b "BB"
  local ia ib
  ia=$(st ino a) ib=$(st ino b)
  expect OK rename2 EXCHANGE a b
  is_content a BB
  is_content b AAA
  is_stat ino a "$ib"
  is_stat ino b "$ia"
}
tcase exchange_files "renameat2 RENAME_EXCHANGE swaps two files atomically"

c_exchange_file_dir() {
  mkfile a "file"
  mkdir d
  mkfile d/inner
  expect OK rename2 EXCHANGE a d
  is_stat type a dir
  exists a/inner
  is_content d file
}
tcase exchange_file_dir "renameat2 RENAME_EXCHANGE swaps a file and a directory"

c_exchange_enoent() {
  mkfile a
  expect ENOENT rename2 EXCHANGE a missing
  exists a
}
tcase exchange_enoent "renameat2 RENAME_EXCHANGE with a missing target is ENOENT"

c_rename2_einval() {
  mkfile a
  mkfile b
  expect EINVAL rename2 "NOREPLACE|EXCHANGE" a b
}
tcase rename2_einval "renameat2 with both RENAME_NOREPLACE and RENAME_EXCHANGE is EINVAL"

c_listing() {
  mkfile a
  mkfile keep
  expect OK rename a b
  eq "$(ph listdir .)" "b keep" "directory entries after rename"
}
tcase listing "after rename readdir shows the new name and not the old one"

c_dirnlink_move() {
  mkdir -p p1/d p2
  is_stat nlink p1 3
  is_stat nlink p2 2
  expect OK rename p1/d p2/d
  is_stat nlink p1 2
  is_stat nlink p2 3
  is_stat nlink p2/d 2
}
tcase dirnlink_move "dir-nlink: moving a directory moves one link from the old parent to the new"

c_dirnlink_over_dir() {
  mkdir -p p/a p/b
  is_stat nlink p 4
  expect OK rename p/a p/b
  is_stat nlink p 3
}
tcase dirnlink_over_dir "dir-nlink: replacing an empty directory drops the parent's nlink by one"

posix_done
