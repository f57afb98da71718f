#!/usr/bin/env bash
# run.sh - the s3xfs POSIX conformance suite (categories modelled on pjdfstest).
#
# Usage: tests/posix/run.sh DIR [CATEGORY...]
#
#   DIR        an existing, empty directory on the filesystem under test (for s3xfs: a
#              bucket directory inside the mount). Every category works in DIR/CATEGORY
#              and removes it afterwards, so DIR is empty again at the end.
#   CATEGORY   chmod chown link mkdir mkfifo open rename rmdir symlink truncate unlink
#              utimensat perms xattr io times (default: all; or POSIX_CATEGORIES="a b").
#
# Must run as root: most cases run as root, and the permission cases run as uid/gid 65534
# (setpriv --reuid=65534 --regid=65534 --clear-groups, or runuser -u nobody). So DIR's
# parents must let "others" traverse them; run.sh adds o+x to DIR itself while it runs (and
# puts DIR's mode back afterwards). On a FUSE mount that means allow_other (and
# default_permissions, or equivalent checks in the daemon).
#
# Output: TAP ("ok N - category: description [case]", "not ok N - ...", then "#" lines with
# the expected and actual values), a "1..N" plan, and a closing line
#   posix: P passed, F failed, S skipped
# Exit status: 0 when no case failed, 1 when one did, 2 on a usage or setup error.
#
# Environment: POSIX_CATEGORIES (as the arguments), POSIX_JOBS (categories run at once,
# default 2; output stays in category order), POSIX_CASES (regex filter on case names /
# descriptions), POSIX_CASE_TIMEOUT, POSIX_TIME_DELAY, POSIX_VERBOSE, POSIX_KEEP: see lib.sh.
#
# Requirements: bash, coreutils, util-linux (setpriv, flock), python3; attr (setfattr /
# getfattr) for the xattr category, whose cases are skipped without it.

set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

ALL_CATEGORIES=(chmod chown link mkdir mkfifo open rename rmdir symlink truncate unlink
                utimensat perms xattr io times)

usage() {
  sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2
  exit 2
}

[[ $# -ge 1 && $1 != -h && $1 != --help ]] || usage
[[ $EUID -eq 0 ]] || { echo "run.sh: must run as root (the permission cases switch to uid 65534)" >&2; exit 2; }
[[ -d $1 ]] || { echo "run.sh: $1 is not a directory" >&2; exit 2; }
DIR=$(cd "$1" && pwd)
shift
if [[ -n $(ls -A -- "$DIR") ]]; then
  echo "run.sh: $DIR is not empty; give a fresh empty directory" >&2
  exit 2
fi

cats=("$@")
if [[ ${#cats[@]} -eq 0 && -n ${POSIX_CATEGORIES:-} ]]; then
  read -r -a cats <<<"$POSIX_CATEGORIES"
fi
[[ ${#cats[@]} -gt 0 ]] || cats=("${ALL_CATEGORIES[@]}")
declare -A seen=()
uniq_cats=()
for c in "${cats[@]}"; do
  [[ -f $here/t_$c.sh ]] || { echo "run.sh: unknown category '$c' (known: ${ALL_CATEGORIES[*]})" >&2; exit 2; }
  [[ -n ${seen[$c]:-} ]] || uniq_cats+=("$c")
  seen[$c]=1
done
cats=("${uniq_cats[@]}")

umask 022
start=$(date +%s.%N)
out_dir=$(mktemp -d "${TMPDIR:-/tmp}/s3xfs-posix-out.XXXXXX") || exit 2
dir_mode=$(stat -c %a "$DIR")
pids=() launch_order=() launched=0

cleanup() {
  local p
  # Each category runs in a process group of its own (set -m below); its bash ends its
  # current case and helper servers on SIGTERM.
  local i
  for i in "${!pids[@]}"; do  # only categories still running (no .rc yet)
    [[ -f $out_dir/${launch_order[i]}.rc ]] || kill -TERM -- "-${pids[i]}" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  # An interrupted run leaves case directories behind: remove what run.sh created.
  if [[ ${POSIX_KEEP:-0} != 1 ]]; then
    for p in "${launch_order[@]:0:launched}"; do rm -rf -- "${DIR:?}/$p"; done
  fi
  chmod "$dir_mode" -- "$DIR" 2>/dev/null || true
  rm -rf -- "$out_dir"
  posix_cleanup_env
}
trap cleanup EXIT
trap 'exit 130' INT TERM

posix_setup_env || exit 2
chmod o+x -- "$DIR" || exit 2
if ! as_nobody test -x "$DIR" 2>/dev/null; then
  echo "run.sh: uid $POSIX_NOBODY_UID cannot traverse $DIR; its parent directories must allow it" >&2
  exit 2
fi

export POSIX_CASES="${POSIX_CASES:-}" POSIX_VERBOSE="${POSIX_VERBOSE:-0}" POSIX_KEEP="${POSIX_KEEP:-0}"
jobs_max=${POSIX_JOBS:-2}
[[ $jobs_max =~ ^[1-9][0-9]*$ ]] || jobs_max=2

# Each category runs as `bash t_CAT.sh` with POSIX_WORK=DIR/CAT; its output goes to
# out_dir/CAT.out, its exit status to out_dir/CAT.rc. At most jobs_max run at once; the
# results are printed in category order as soon as each is complete.
# times spends most of its time sleeping (POSIX_TIME_DELAY): start it first.
launch_order=()
for c in "${cats[@]}"; do [[ $c == times ]] && launch_order+=("$c"); done
for c in "${cats[@]}"; do [[ $c == times ]] || launch_order+=("$c"); done
set -m
launched=0 running=0
launch_more() {
  local c
  while (( launched < ${#cats[@]} && running < jobs_max )); do
    c=${launch_order[launched]}
    # root:root, 0755, no set-gid bit inherited from DIR (the cases check owners and modes)
    { mkdir -m 0755 -- "$DIR/$c" && chown 0:0 -- "$DIR/$c" && chmod u=rwx,go=rx,ug-s -- "$DIR/$c"; } ||
      { echo "run.sh: cannot create $DIR/$c" >&2; exit 2; }
    (
      POSIX_WORK=$DIR/$c bash "$here/t_$c.sh" >"$out_dir/$c.out" 2>&1 </dev/null
      echo $? >"$out_dir/$c.rc"
    ) &
    pids+=($!)
    launched=$(( launched + 1 )) running=$(( running + 1 ))
  done
}

n=0 passed=0 failed=0 skipped=0
for c in "${cats[@]}"; do
  launch_more
  while [[ ! -f $out_dir/$c.rc ]]; do
    wait -n  # one category finished (its .rc is written before it exits)
    if [[ $? == 127 && ! -f $out_dir/$c.rc ]]; then  # no job left, yet no result
      echo "exit status lost" >"$out_dir/$c.rc"
    fi
    running=$(( running - 1 ))
    launch_more
  done
  rc=$(<"$out_dir/$c.rc")
  cp=0 cf=0 cs=0
  while IFS= read -r line; do
    case $line in
      "ok - "*)
        n=$((n + 1))
        if [[ $line == *" # SKIP "* ]]; then cs=$((cs + 1)); else cp=$((cp + 1)); fi
        printf 'ok %d - %s\n' "$n" "${line#ok - }" ;;
      "not ok - "*)
        n=$((n + 1)); cf=$((cf + 1))
        printf 'not ok %d - %s\n' "$n" "${line#not ok - }" ;;
      "#"*) printf '%s\n' "$line" ;;
      *) printf '# %s\n' "$line" ;;
    esac
  done <"$out_dir/$c.out"
  if [[ $rc != 0 ]]; then
    n=$((n + 1)); cf=$((cf + 1))
    printf 'not ok %d - %s: category script exited with status %s\n' "$n" "$c" "$rc"
  fi
  if [[ ${POSIX_KEEP:-0} == 1 && -n $(ls -A -- "$DIR/$c" 2>/dev/null) ]]; then
    printf '# %s: kept the failed cases'"'"' directories in %s\n' "$c" "$DIR/$c"
  elif [[ -n $(ls -A -- "$DIR/$c" 2>/dev/null) ]]; then
    n=$((n + 1)); cf=$((cf + 1))
    printf 'not ok %d - %s: left entries behind in %s\n' "$n" "$c" "$DIR/$c"
    # shellcheck disable=SC2012  # a listing for people to read
    ls -lA -- "$DIR/$c" | sed 's/^/#   /'
  fi
  if [[ ${POSIX_KEEP:-0} != 1 ]] || [[ -z $(ls -A -- "$DIR/$c" 2>/dev/null) ]]; then
    if ! err=$(rm -rf -- "${DIR:?}/$c" 2>&1); then
      n=$((n + 1)); cf=$((cf + 1))
      printf 'not ok %d - %s: cannot remove %s: %s\n' "$n" "$c" "$DIR/$c" "$err"
    fi
  fi
  printf '# %s: %d passed, %d failed, %d skipped\n' "$c" "$cp" "$cf" "$cs"
  passed=$((passed + cp)) failed=$((failed + cf)) skipped=$((skipped + cs))
done
wait

end=$(date +%s.%N)
printf '1..%d\n' "$n"
printf '# %s in %s s (categories: %s)\n' "$DIR" "$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')" "${cats[*]}"
printf 'posix: %d passed, %d failed, %d skipped\n' "$passed" "$failed" "$skipped"
[[ $failed -eq 0 ]]
