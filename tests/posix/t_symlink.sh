#!/usr/bin/env bash
# shellcheck disable=SC2317  # the c_* case bodies are called indirectly, by tcase
# symlink(2) / readlink(2): creation, targets kept byte for byte, resolution; errors.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
posix_category symlink "${1:-}"

c_basic() {
  mkfile f "target data"
  expect OK symlink f l
  is_stat type l lnk
  is_statf type l reg
  eq "$(ph readlink l)" f "readlink of l"
  is_content l "target data"
}
tcase basic "symlink makes a link that resolves to its target"

c_size() {
  expect OK symlink some/relative/target l
  is_stat size l 20
}
tcase size "lstat size of a symlink is the length of its target"

c_dangling() {
  expect OK symlink does-not-exist l
  is_stat type l lnk
  eq "$(stf type l)" ENOENT "stat through a dangling symlink"
  eq "$(ph readlink l)" does-not-exist "readlink of a dangling symlink"
}
tcase dangling "a symlink to a missing target can be made; following it is ENOENT"

c_relative() {
  mkdir -p a/b
  mkfile a/f "in a"
  expect OK symlink ../f a/b/l
  is_content a/b/l "in a"
}
tcase relative "a relative target resolves from the link's own directory"

c_absolute() {
  mkfile f "abs"
  expect OK symlink "$PWD/f" l
  eq "$(ph readlink l)" "$PWD/f" "readlink of l"
  is_content l abs
}
tcase absolute "an absolute target is kept and resolves"

c_dir_target() {
  mkdir d
  mkfile d/f "x"
  expect OK symlink d l
  is_content l/f x
  is_statf type l dir
  eq "$(ph listdir l)" f "entries through the symlink"
}
tcase dir_target "a path through a symlink to a directory resolves"

c_target_bytes() {
  # shellcheck disable=SC2016  # the $ is meant literally
  local t='odd target with spaces/..//./$HOME*?/ünï'
  expect OK symlink "$t" l
  eq "$(ph readlink l)" "$t" "readlink of l"
}
tcase target_bytes "the target string is stored exactly (spaces, //, .., shell characters, UTF-8)"

c_long_target() {
  local t
  t=$(mkname 1023 t)
  expect OK symlink "$t" l
  eq "$(ph readlink l)" "$t" "readlink of a 1023-byte target"
  is_stat size l 1023
  t=$(printf 'd/%.0s' $(seq 1 2047))x
  expect OK symlink "$t" l2
  eq "$(ph readlink l2)" "$t" "readlink of a 4095-byte target"
}
tcase long_target "targets of 1023 and 4095 bytes (PATH_MAX - 1) are kept"

c_target_too_long() {
  expect ENAMETOOLONG symlink "$(mkname 4096 t)" l
  absent l
}
tcase target_too_long "a 4096-byte target is ENAMETOOLONG"

c_mode_owner() {
  expect OK symlink f l
  is_stat mode l 0777
  is_stat uid l 0
  nbdir d
  expect_nobody OK symlink f d/l
  is_stat uid d/l "$POSIX_NOBODY_UID"
  is_stat gid d/l "$POSIX_NOBODY_GID"
}
tcase mode_owner "a symlink has mode 0777 and belongs to its creator"

c_eexist() {
  mkfile f
  mkdir d
  ln -s x l
  expect EEXIST symlink t f
  expect EEXIST symlink t d
  expect EEXIST symlink t l
  eq "$(ph readlink l)" x "readlink of the existing symlink"
}
tcase eexist "symlink over an existing file, directory or symlink is EEXIST"

c_enoent() {
  expect ENOENT symlink t nodir/l
}
tcase enoent "symlink in a missing directory is ENOENT"

c_enotdir() {
  mkfile f
  expect ENOTDIR symlink t f/l
  expect EINVAL readlink f
}
tcase enotdir "symlink under a file is ENOTDIR; readlink of a non-symlink is EINVAL"

c_enametoolong() {
  expect ENAMETOOLONG symlink t "$(mkname 256)"
  expect OK symlink t "$(mkname 255)"
}
tcase enametoolong "symlink named with 256 bytes is ENAMETOOLONG, 255 bytes works"

c_chain() {
  mkfile f "end"
  ln -s f l1
  ln -s l1 l2
  ln -s l2 l3
  is_content l3 end
  is_statf ino l3 "$(st ino f)"
}
tcase chain "a chain of symlinks resolves"

c_eloop() {
  ln -s b a
  ln -s a b
  expect ELOOP open a O_RDONLY
  expect ELOOP stat type a
}
tcase eloop "(optional) a symlink cycle is ELOOP"

c_unlink_keeps_target() {
  mkfile f "stay"
  ln -s f l
  expect OK unlink l
  absent l
  is_content f stay
}
tcase unlink_keeps_target "removing a symlink leaves its target alone"

posix_done
