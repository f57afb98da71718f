#!/usr/bin/env bash
# shellcheck disable=SC2317  # the c_* case bodies are called indirectly, by tcase
# mkfifo(3) / mknod(2) S_IFIFO: creation, modes, ownership, data through a fifo; errors.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
posix_category mkfifo "${1:-}"

c_basic() {
  expect OK mkfifo p 0666
  is_stat type p fifo
  is_stat mode p 0644
  is_stat size p 0
  is_stat nlink p 1
  is_stat uid p 0
}
tcase basic "mkfifo 0666 under umask 022 makes a 0644 fifo of size 0 owned by root"

c_modes() {
  local m
  for m in 0600 0640 0777 0000; do
    expect OK mkfifo "p$m" "$m"
    is_stat mode "p$m" "$([[ $m == 0777 ]] && echo 0755 || echo "$m")"
  done
}
tcase modes "mkfifo honours the mode minus the umask"

c_mknod() {
  expect OK mknod-fifo p 0600
  is_stat type p fifo
  is_stat mode p 0600
}
tcase mknod "mknod(S_IFIFO) makes a fifo"

c_data() {
  mkfifo p
  (printf 'through the pipe\n' >p) &
  local w=$!
  local got
  got=$(timeout 10 cat p)
  wait "$w"
  eq "$got" "through the pipe" "data read from the fifo"
  is_stat size p 0
}
tcase data "data written into a fifo is read from it, and is not stored"

c_listed() {
  mkfifo p
  eq "$(ph listdir .)" p "entries of the directory"
  eq "$(find . -type p)" ./p "find -type p"
}
tcase listed "a fifo shows in readdir with type fifo"

c_unlink() {
  mkfifo p
  expect OK unlink p
  absent p
}
tcase unlink "a fifo can be unlinked"

c_rename() {
  mkfifo p
  expect OK rename p q
  absent p
  is_stat type q fifo
}
tcase rename "a fifo can be renamed"

c_eexist() {
  mkfifo p
  mkfile f
  mkdir d
  ln -s nowhere l
  expect EEXIST mkfifo p
  expect EEXIST mkfifo f
  expect EEXIST mkfifo d
  expect EEXIST mkfifo l
  is_stat type f reg
}
tcase eexist "mkfifo over an existing fifo, file, directory or dangling symlink is EEXIST"

c_enoent() {
  expect ENOENT mkfifo nodir/p
}
tcase enoent "mkfifo in a missing directory is ENOENT"

c_enotdir() {
  mkfile f
  expect ENOTDIR mkfifo f/p
}
tcase enotdir "mkfifo under a regular file is ENOTDIR"

c_enametoolong() {
  expect ENAMETOOLONG mkfifo "$(mkname 256)"
  expect OK mkfifo "$(mkname 255)"
}
tcase enametoolong "mkfifo of a 256-byte name is ENAMETOOLONG, a 255-byte name works"

c_nobody_owner() {
  nbdir d
  expect_nobody OK mkfifo d/p 0640
  is_stat uid d/p "$POSIX_NOBODY_UID"
  is_stat gid d/p "$POSIX_NOBODY_GID"
  is_stat mode d/p 0640
}
tcase nobody_owner "a fifo made by uid 65534 is owned by 65534:65534"

c_nonblock_open() {
  mkfifo p
  expect OK open p "O_RDONLY|O_NONBLOCK"
  expect ENXIO open p "O_WRONLY|O_NONBLOCK"
}
tcase nonblock_open "O_NONBLOCK open of a fifo: reader succeeds, writer without reader is ENXIO"

posix_done
