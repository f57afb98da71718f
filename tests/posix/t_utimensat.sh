#!/usr/bin/env bash
# shellcheck disable=SC2317  # the c_* case bodies are called indirectly, by tcase
# utimensat(2): explicit nanosecond times, UTIME_NOW, UTIME_OMIT, AT_SYMLINK_NOFOLLOW,
# and who may set times; errors.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
posix_category utimensat "${1:-}"

A=1234567890123456789  # 2009-02-13T23:31:30.123456789Z
M=1300000000987654321  # 2011-03-13T07:06:40.987654321Z

c_set_ns() {
  mkfile f
  expect OK utimens f "$A" "$M"
  is_stat atime f "$A"
  is_stat mtime f "$M"
}
tcase set_ns "explicit atime and mtime are stored to the nanosecond"

c_dir() {
  mkdir d
  expect OK utimens d "$A" "$M"
  is_stat atime d "$A"
  is_stat mtime d "$M"
}
tcase dir "times of a directory can be set"

c_fifo() {
  mkfifo p
  expect OK utimens p "$A" "$M"
  is_stat mtime p "$M"
}
tcase fifo "times of a fifo can be set"

c_omit_atime() {
  mkfile f
  expect OK utimens f "$A" "$A"
  expect OK utimens f OMIT "$M"
  is_stat atime f "$A"
  is_stat mtime f "$M"
}
tcase omit_atime "UTIME_OMIT for atime leaves it and sets mtime"

c_omit_mtime() {
  mkfile f
  expect OK utimens f "$M" "$M"
  expect OK utimens f "$A" OMIT
  is_stat atime f "$A"
  is_stat mtime f "$M"
}
tcase omit_mtime "UTIME_OMIT for mtime leaves it and sets atime"

c_omit_both() {
  mkfile f
  expect OK utimens f "$A" "$M"
  expect OK utimens f OMIT OMIT
  is_stat atime f "$A"
  is_stat mtime f "$M"
}
tcase omit_both "UTIME_OMIT for both changes neither"

c_now() {
  mkfile f
  expect OK utimens f "$A" "$M"
  local t0 t1 at mt
  t0=$(now_ns)
  expect OK utimens f NOW NOW
  t1=$(now_ns)
  at=$(st atime f) mt=$(st mtime f)
  ge "$mt" $((t0 - 1000000000)) "mtime after UTIME_NOW (vs the clock before, less 1 s)"
  ge $((t1 + 1000000000)) "$mt" "the clock after UTIME_NOW plus 1 s (vs mtime)"
  ge "$at" $((t0 - 1000000000)) "atime after UTIME_NOW (vs the clock before, less 1 s)"
}
tcase now "UTIME_NOW sets both times to the current time"

c_now_mtime_only() {
  mkfile f
  expect OK utimens f "$A" "$M"
  local t0
  t0=$(now_ns)
  expect OK utimens f OMIT NOW
  is_stat atime f "$A"
  ge "$(st mtime f)" $((t0 - 1000000000)) "mtime after UTIME_NOW"
}
tcase now_mtime_only "UTIME_NOW for mtime with UTIME_OMIT for atime"

c_null() {
  mkfile f
  expect OK utimens f "$A" "$M"
  local t0
  t0=$(now_ns)
  expect OK utimens f
  ge "$(st mtime f)" $((t0 - 1000000000)) "mtime after utimensat(NULL)"
  ge "$(st atime f)" $((t0 - 1000000000)) "atime after utimensat(NULL)"
}
tcase null "utimensat with NULL times sets both to now"

c_epoch() {
  mkfile f
  expect OK utimens f 0 0
  is_stat mtime f 0
  is_stat atime f 0
}
tcase epoch "times can be set to the epoch (0)"

c_y2038() {
  mkfile f
  local t=4102444800000000001  # 2100-01-01T00:00:00.000000001Z
  expect OK utimens f "$t" "$t"
  is_stat mtime f "$t"
  is_stat atime f "$t"
}
tcase y2038 "times after 2038 (year 2100) are kept"

c_before_epoch() {
  mkfile f
  local t=-1000000000  # 1969-12-31T23:59:59Z
  expect OK utimens f "$t" "$t"
  is_stat mtime f "$t"
}
tcase before_epoch "a time before the epoch (-1 s) is kept"

c_follows_symlink() {
  mkfile f
  ln -s f l
  expect OK utimens f "$A" "$A"
  local lm
  lm=$(st mtime l)
  expect OK utimens l "$M" "$M"
  is_stat mtime f "$M"
  is_stat mtime l "$lm"
}
tcase follows_symlink "utimensat on a symlink sets its target's times"

c_nofollow_symlink() {
  mkfile f
  ln -s f l
  expect OK utimens f "$A" "$A"
  expect OK lutimens l "$M" "$M"
  is_stat mtime l "$M"
  is_stat mtime f "$A"
}
tcase nofollow_symlink "AT_SYMLINK_NOFOLLOW sets the symlink's own times"

c_enoent() {
  expect ENOENT utimens missing "$A" "$M"
  absent missing
}
tcase enoent "utimensat of a missing path is ENOENT (and does not create it)"

c_einval_nsec() {
  mkfile f
  expect OK utimens f "$A" "$M"
  expect EINVAL utimens f 0:1000000000 0:0
  expect EINVAL utimens f 0:0 0:-1
  is_stat mtime f "$M"
  expect OK utimens f 5:999999999 5:999999999
  is_stat mtime f 5999999999
}
tcase einval_nsec "tv_nsec outside 0..999999999 (and not UTIME_NOW/OMIT) is EINVAL"

c_owner_explicit() {
  nbfile f
  expect_nobody OK utimens f "$A" "$M"
  is_stat mtime f "$M"
}
tcase owner_explicit "the owner (uid 65534) may set explicit times"

c_nonowner_explicit_eperm() {
  mkfile f
  chmod 0666 f
  expect OK utimens f "$A" "$A"
  expect_nobody EPERM utimens f "$M" "$M"
  is_stat mtime f "$A"
}
tcase nonowner_explicit_eperm "a non-owner may not set explicit times even with write access (EPERM)"

c_nonowner_writable_now() {
  mkfile f
  chmod 0666 f
  expect OK utimens f "$A" "$A"
  expect_nobody OK utimens f NOW NOW
  ne "$(st mtime f)" "$A" "mtime after UTIME_NOW by a writer"
}
tcase nonowner_writable_now "a non-owner with write access may set the times to now"

c_nonowner_readonly_now_eacces() {
  mkfile f
  chmod 0644 f
  expect OK utimens f "$A" "$A"
  expect_nobody EACCES utimens f NOW NOW
  expect_nobody EACCES utimens f
  is_stat mtime f "$A"
}
tcase nonowner_readonly_now_eacces "a non-owner without write access may not set the times to now (EACCES)"

posix_done
