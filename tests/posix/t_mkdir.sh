#!/usr/bin/env bash
# shellcheck disable=SC2317  # the c_* case bodies are called indirectly, by tcase
# mkdir(2): modes and umask, ownership, set-gid inheritance, directory link counts; errors.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
posix_category mkdir "${1:-}"

c_basic() {
  expect OK mkdir d 0777
  is_stat type d dir
  is_stat mode d 0755
  is_stat uid d 0
  is_stat gid d 0
}
tcase basic "mkdir 0777 under umask 022 makes a 0755 directory owned by root"

c_modes() {
  local m
  for m in 0700 0555 0751 0000; do
    expect OK mkdir "d$m" "$m"
    is_stat mode "d$m" "$m"
  done
}
tcase modes "mkdir honours the requested mode (0700 0555 0751 0000)"

c_umask() {
  posix_umask 027
  expect OK mkdir d 0777
  is_stat mode d 0750
  posix_umask 0777
  expect OK mkdir e 0777
  is_stat mode e 0000
}
tcase umask "mkdir applies the umask (027 -> 0750, 0777 -> 0000)"

c_sticky_mode() {
  expect OK mkdir d 1777
  is_stat mode d 1755
}
tcase sticky_mode "mkdir keeps the sticky bit of the requested mode"

c_empty() {
  expect OK mkdir d
  eq "$(ph listdir d)" "" "entries of a new directory"
}
tcase empty "a new directory has no entries"

c_dot_entries() {
  mkdir d
  # shellcheck disable=SC2012  # ls -a shows exactly what readdir returns
  eq "$(ls -a d | tr '\n' ' ')" ". .. " "ls -a of a new directory (readdir returns . and ..)"
  eq "$(st ino d/.)" "$(st ino d)" "ino of d/."
  eq "$(st ino d/..)" "$(st ino .)" "ino of d/.."
}
tcase dot_entries "readdir of a new directory returns . and ..; they resolve correctly"

c_nested() {
  mkdir -p a/b/c/d
  mkfile a/b/c/d/f deep
  is_content a/b/c/d/f deep
  eq "$(ph listdir a/b)" c "entries of a/b"
}
tcase nested "nested directories can be created and used"

c_many_entries() {
  mkdir d
  local i
  for ((i = 0; i < 300; i++)); do : >"d/f$i"; done
  eq "$(find d -mindepth 1 | wc -l)" 300 "entries listed"
  eq "$(find d -mindepth 1 -name 'f2*' | wc -l)" 111 "entries named f2* (f2, f20..f29, f200..f299)"
}
tcase many_entries "a directory with 300 entries lists all of them"

c_trailing_slash() {
  expect OK mkdir d/
  is_stat type d dir
}
tcase trailing_slash "mkdir with a trailing slash works"

c_eexist() {
  mkdir d
  mkfile f
  ln -s nowhere l
  expect OK mkfifo p
  expect EEXIST mkdir d
  expect EEXIST mkdir f
  expect EEXIST mkdir l
  expect EEXIST mkdir p
  is_stat type f reg
  is_stat type l lnk
}
tcase eexist "mkdir over an existing directory, file, dangling symlink or fifo is EEXIST"

c_enoent() {
  expect ENOENT mkdir a/b
  absent a
}
tcase enoent "mkdir in a missing directory is ENOENT"

c_enotdir() {
  mkfile f
  expect ENOTDIR mkdir f/d
}
tcase enotdir "mkdir under a regular file is ENOTDIR"

c_enametoolong() {
  expect ENAMETOOLONG mkdir "$(mkname 256)"
  expect OK mkdir "$(mkname 255)"
  is_stat type "$(mkname 255)" dir
}
tcase enametoolong "mkdir of a 256-byte name is ENAMETOOLONG, a 255-byte name works"

c_path_max() {
  # A relative path of PATH_MAX - 1 bytes (4095) made of 127-byte components, as pjdfstest's
  # */03.t builds it: every call on it works; a path of PATH_MAX bytes is ENAMETOOLONG.
  local p="" c i
  for i in $(seq 1 32); do
    c=$(mkname 127 "$(printf "\\x$(printf %x $((96 + (i % 26) + 1)))")")
    p+="${p:+/}$c"
  done
  p=${p:0:4095}
  mkdir -p -- "$(dirname "$p")" || fail "mkdir -p of the parents of a 4095-byte path"
  expect OK mkdir "$p" 0755
  is_stat type "$p" dir
  expect OK rmdir "$p"
  expect OK open "$p" "O_WRONLY|O_CREAT"
  is_stat type "$p" reg
  expect OK unlink "$p"
  expect ENAMETOOLONG mkdir "${p}x"
}
tcase path_max "a 4095-byte relative path works for mkdir, open and unlink; 4096 bytes is ENAMETOOLONG"

c_nobody_owner() {
  nbdir p 0755
  expect_nobody OK mkdir p/d 0777
  is_stat uid p/d "$POSIX_NOBODY_UID"
  is_stat gid p/d "$POSIX_NOBODY_GID"
  is_stat mode p/d 0755
}
tcase nobody_owner "a directory made by uid 65534 is owned by 65534:65534"

c_setgid_inherit() {
  mkdir -m 0777 p
  chown "0:$POSIX_NOBODY_GID" p
  chmod 02777 p
  expect OK mkdir p/d 0755
  is_stat gid p/d "$POSIX_NOBODY_GID"
  is_stat mode p/d 2755
  mkfile p/f
  is_stat gid p/f "$POSIX_NOBODY_GID"
  is_stat mode p/f 0644
}
tcase setgid_inherit "in a set-gid directory new entries take its group; subdirectories keep set-gid"

c_names() {
  local n
  for n in ' lead space' 'trail space ' 'new-line-free-$&*?[]' 'ünïcödé' '.hidden' '..dots' '-dash'; do
    expect OK mkdir "$n"
    is_stat type "$n" dir
  done
  eq "$(find . -mindepth 1 -maxdepth 1 | wc -l)" 7 "number of entries listed"
  is_stat type ./-dash dir
}
tcase names "unusual names (spaces, shell characters, UTF-8, leading dots/dashes) work"

c_dirnlink_new() {
  mkdir d
  is_stat nlink d 2
}
tcase dirnlink_new "dir-nlink: a new directory has nlink 2"

c_dirnlink_parent() {
  mkdir p
  is_stat nlink p 2
  mkdir p/a p/b p/c
  is_stat nlink p 5
  mkfile p/f
  is_stat nlink p 5
  rmdir p/b
  is_stat nlink p 4
}
tcase dirnlink_parent "dir-nlink: a directory's nlink is 2 + its subdirectories (files do not count)"

posix_done
