# shellcheck shell=bash
# lib.sh - shared helpers for the s3xfs POSIX conformance suite (tests/posix).
#
# A category file t_NAME.sh looks like this:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   posix_category chmod "${1:-}"
#   c_file_modes() { expect OK chmod f 0600; is_stat mode f 0600; }   # a case's body
#   tcase file_modes "chmod sets the permission bits of a file"      # runs it, reports
#   posix_done
#
# How it runs. run.sh starts `bash t_NAME.sh` with POSIX_WORK=DIR/NAME (the "category
# process"). Each `tcase NAME DESC` there makes a fresh directory POSIX_WORK/NAME and runs
# c_NAME in a forked subshell (the "case"), in that directory, as root, umask 022, with
# `set -eEu -o pipefail`, in its own process group, killed after POSIX_CASE_TIMEOUT seconds.
#   - the case passes when c_NAME returns;
#   - `fail MSG` (what every assertion below calls) or any command failing unexpectedly
#     fails it, with the message / the failing command and its line;
#   - `skip MSG` skips it (exit 77).
# The category process prints one TAP line per case, without a number (run.sh numbers them):
#   ok - chmod: DESC [NAME]     not ok - chmod: DESC [NAME]     ok - xattr: DESC [NAME] # SKIP why
# and, after a failure, the case's output as "#   ..." lines. It then removes the case's
# directory (one it cannot remove fails the case: the suite must leave DIR empty).
#
# By hand: `bash tests/posix/t_chmod.sh DIR` (as root) runs one category in DIR/chmod;
# POSIX_CASES=REGEX selects cases.
#
# Environment (run.sh sets the first ones once; defaults are computed when unset):
#   POSIX_PY             python3 interpreter (an absolute path: pyenv shims are slow)
#   POSIX_NOBODY_PY      a python3 that uid 65534 can run
#   POSIX_HELPER         posixhelper.py;  POSIX_NOBODY_HELPER: a copy uid 65534 can read
#   POSIX_CASE_TIMEOUT   seconds a case may take (default 30)
#   POSIX_TIME_DELAY     sleep before an operation whose ctime change is checked (default 1.05,
#                        enough for 1-second timestamps; e.g. 0.05 for nanosecond ones)
#   POSIX_CASES          extended regex: run only the cases whose name or "category: desc" match
#   POSIX_VERBOSE=1      print every case's output, not only a failed case's
#   POSIX_KEEP=1         keep a failed case's directory for inspection
#   POSIX_ONESHOT=1      start a python per helper call instead of the per-category servers

if [[ -z ${POSIX_LIB_DIR:-} ]]; then
  POSIX_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  export POSIX_LIB_DIR
fi
POSIX_NOBODY_UID=65534
POSIX_NOBODY_GID=65534
# A fixed time in the past (2001-09-09T01:46:40.123456789Z), in ns, used to make a later
# mtime/atime change visible without sleeping.
POSIX_PAST_NS=1000000000123456789

# ---------------------------------------------------------------- environment --

# as_nobody CMD ARGS...: runs CMD as uid/gid 65534 with no supplementary groups.
if command -v setpriv >/dev/null 2>&1; then
  POSIX_AS_NOBODY=(setpriv --reuid="$POSIX_NOBODY_UID" --regid="$POSIX_NOBODY_GID" --clear-groups --)
else
  POSIX_AS_NOBODY=(runuser -u "$(id -nu "$POSIX_NOBODY_UID")" --)
fi
as_nobody() { "${POSIX_AS_NOBODY[@]}" "$@"; }

# posix_setup_env: fills in POSIX_PY, POSIX_NOBODY_PY, POSIX_HELPER, POSIX_NOBODY_HELPER
# (copying the helper to a world-readable temporary directory, POSIX_TOOLS, that
# posix_cleanup_env removes) and exports them. Returns non-zero with a message on stderr
# when python3 cannot be found or uid 65534 cannot run it.
posix_setup_env() {
  if [[ -z ${POSIX_PY:-} ]]; then
    POSIX_PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || {
      echo "posix: python3 not found" >&2
      return 1
    }
  fi
  : "${POSIX_HELPER:=$POSIX_LIB_DIR/posixhelper.py}"
  if [[ -z ${POSIX_NOBODY_HELPER:-} ]]; then
    POSIX_TOOLS=$(mktemp -d "${TMPDIR:-/tmp}/s3xfs-posix-tools.XXXXXX") || return 1
    POSIX_TOOLS_OWNER=$BASHPID
    chmod 0755 "$POSIX_TOOLS"
    install -m 0644 "$POSIX_HELPER" "$POSIX_TOOLS/posixhelper.py"
    POSIX_NOBODY_HELPER=$POSIX_TOOLS/posixhelper.py
  fi
  if [[ -z ${POSIX_NOBODY_PY:-} ]]; then
    local cand
    for cand in "$POSIX_PY" /usr/bin/python3 /usr/local/bin/python3; do
      if [[ -x $cand ]] && as_nobody "$cand" -I -S "$POSIX_NOBODY_HELPER" help >/dev/null 2>&1; then
        POSIX_NOBODY_PY=$cand
        break
      fi
    done
    if [[ -z ${POSIX_NOBODY_PY:-} ]]; then
      echo "posix: no python3 that uid $POSIX_NOBODY_UID can run ($POSIX_PY, /usr/bin/python3) with $POSIX_NOBODY_HELPER" >&2
      return 1
    fi
  fi
  export POSIX_PY POSIX_NOBODY_PY POSIX_HELPER POSIX_NOBODY_HELPER
}

posix_cleanup_env() {
  if [[ -n ${POSIX_TOOLS:-} && ${POSIX_TOOLS_OWNER:-} == "$BASHPID" && -d $POSIX_TOOLS ]]; then
    rm -rf -- "$POSIX_TOOLS"
  fi
}

# ----------------------------------------------------------------- test runner --

# posix_category NAME [DIR]: starts a category file. Run by hand, DIR is where to work.
posix_category() {
  POSIX_CAT=$1
  : "${POSIX_CASE_TIMEOUT:=30}" "${POSIX_TIME_DELAY:=1.05}"
  local manual=0
  if [[ -z ${POSIX_WORK:-} ]]; then
    manual=1
    if [[ -z ${2:-} ]]; then
      echo "usage: bash $0 DIR   (as root; or run it through run.sh)" >&2
      exit 2
    fi
    [[ $EUID -eq 0 ]] || { echo "posix: must run as root" >&2; exit 2; }
    POSIX_WORK=$(cd "$2" && pwd)/$POSIX_CAT
    { mkdir -p "$POSIX_WORK" && chown 0:0 "$POSIX_WORK" && chmod u=rwx,go=rx,ug-s "$POSIX_WORK"; } || exit 2
    umask 022
    posix_setup_env || exit 2
  fi
  # Local scratch space (not on the filesystem under test): helper fifos, case output.
  _PX_SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/s3xfs-posix-$POSIX_CAT.XXXXXX") || exit 2
  if [[ $manual == 1 ]]; then
    trap '_posix_category_exit; posix_cleanup_env; rmdir -- "$POSIX_WORK" 2>/dev/null || true' EXIT
  else
    trap '_posix_category_exit' EXIT
  fi
  trap 'exit 143' TERM
  trap 'exit 130' INT
  # Job control: every case (and its children) runs in a process group of its own, so a
  # timed-out case can be killed whole.
  set -m
}

_posix_category_exit() {
  # Interrupted in the middle of a case: end the case's process group first, and remove
  # its directory.
  if [[ -n ${_PX_CASE_PID:-} ]]; then
    kill -TERM -- "-$_PX_CASE_PID" 2>/dev/null && sleep 0.2
    kill -KILL -- "-$_PX_CASE_PID" 2>/dev/null
    _posix_srv_stop kill
    [[ ${POSIX_KEEP:-0} == 1 || -z ${_PX_CASE_DIR:-} ]] || rm -rf -- "$_PX_CASE_DIR"
  fi
  _posix_srv_stop
  rm -rf -- "$_PX_SCRATCH"
}

_posix_report() { # STATUS DESC [DIAGNOSTIC_TEXT] [SKIP_REASON]
  local line="$1 - $POSIX_CAT: $2"
  [[ -n ${4:-} ]] && line+=" # SKIP $4"
  printf '%s\n' "$line"
  if [[ -n ${3:-} ]]; then
    printf '%s\n' "$3" | sed 's/^/#   /'
  fi
}

# tcase NAME DESCRIPTION: runs case c_NAME (see the top of this file).
tcase() {
  local name=$1 desc="$2 [$1]"
  if [[ -n ${POSIX_CASES:-} ]] && ! [[ $name =~ $POSIX_CASES || "$POSIX_CAT: $2" =~ $POSIX_CASES ]]; then
    return 0
  fi
  if ! declare -F "c_$name" >/dev/null; then
    _posix_report "not ok" "$desc" "suite bug: no function c_$name"
    return 0
  fi
  _posix_srv_ensure
  local dir=$POSIX_WORK/$name outf=$_PX_SCRATCH/case.out out rc r pid timed_out=0
  _posix_pv r mkdir "$dir" 0755
  if [[ $r != OK ]]; then
    _posix_report "not ok" "$desc" "cannot create the case directory $dir: $r"
    return 0
  fi
  # The watchdog: the case asks the root helper server, as its first action, to signal its
  # process group after the timeout (no sleep process per case) and to create the marker
  # file then; without a server, a background sleep does it.
  local wd='' marker=$_PX_SCRATCH/timed-out
  rm -f -- "$marker"
  (_posix_case_body "$name" "$dir" "$marker") >"$outf" 2>&1 </dev/null &
  pid=$! _PX_CASE_PID=$! _PX_CASE_DIR=$dir
  if [[ -z ${_PX_W_root:-} ]]; then
    (sleep "$POSIX_CASE_TIMEOUT"; : >"$marker"; kill -TERM -- "-$pid"; sleep 5; kill -KILL -- "-$pid") >/dev/null 2>&1 </dev/null &
    wd=$!
  fi
  wait "$pid"
  rc=$?
  _PX_CASE_PID=''
  [[ ! -e $marker ]] || timed_out=1
  if [[ -n $wd ]]; then
    kill -- "-$wd" 2>/dev/null
    wait "$wd" 2>/dev/null
  elif [[ $timed_out == 0 ]]; then
    phv r unwatch "$pid"
  fi
  out=$(<"$outf")
  if [[ $timed_out == 1 ]]; then
    _posix_report "not ok" "$desc" "${out:+$out
}timed out after ${POSIX_CASE_TIMEOUT}s"
    _posix_srv_stop kill  # a server may be stuck in the hung call; the next case starts new ones
  else
    case $rc in
      0)
        if [[ ${POSIX_VERBOSE:-0} == 1 ]]; then _posix_report "ok" "$desc" "$out"; else _posix_report "ok" "$desc"; fi ;;
      77)
        local why
        why=$(printf '%s\n' "$out" | sed -n 's/^SKIP: //p' | tail -n 1)
        _posix_report "ok" "$desc" "" "${why:-skipped}" ;;
      *)
        _posix_report "not ok" "$desc" "${out:-(no output; exit status $rc)}" ;;
    esac
  fi
  if [[ $rc != 0 && $rc != 77 && ${POSIX_KEEP:-0} == 1 ]]; then
    printf '#   kept %s\n' "$dir"
    return 0
  fi
  _posix_srv_ensure
  _posix_pv r rmtree "$dir"
  if [[ $r != OK ]]; then
    _posix_report "not ok" "cleanup after $desc" "removing $dir failed: $r"
  fi
  return 0
}

# _posix_pv VAR ARGS...: (category process) a helper call as root; with POSIX_ONESHOT=1 the
# plain commands instead (mkdir DIR MODE, rmtree DIR).
_posix_pv() {
  if [[ -n ${_PX_W_root:-} ]]; then
    phv "$@"
    return
  fi
  local _ppv_err
  case $2 in
    mkdir) _ppv_err=$(mkdir -m "$4" -- "$3" 2>&1) ;;
    rmtree) _ppv_err=$(rm -rf -- "$3" 2>&1) ;;
  esac && _ppv_err=OK
  printf -v "$1" '%s' "$_ppv_err"
}

_posix_case_body() { # NAME DIR MARKER  (runs in the forked case subshell)
  if [[ -n ${_PX_W_root:-} ]]; then
    local r
    phv r watch "$BASHPID" "$POSIX_CASE_TIMEOUT" "$3"
  fi
  cd "$2" || exit 1
  umask 022
  set -eEu -o pipefail
  trap '_posix_on_err $? $LINENO "$BASH_COMMAND"' ERR
  trap '_posix_kill_jobs' EXIT
  trap 'exit 143' TERM  # exit rather than die of the signal: no job notice in the output
  "c_$1"
  exit 0
}

_posix_on_err() {
  printf 'FAIL: unexpected failure (exit status %s) at %s line %s: %s\n' "$1" "${BASH_SOURCE[1]##*/}" "$2" "$3"
  exit 1
}

_posix_kill_jobs() {
  local p
  for p in $(jobs -p); do kill "$p" 2>/dev/null || true; done
}

# posix_done: ends a category file.
posix_done() {
  exit 0
}

# ------------------------------------------------------------- helper calls --

# ph ARGS...: prints what `posixhelper.py ARGS` prints, as root; phn ARGS...: as uid 65534.
# phv VAR ARGS... / phnv VAR ARGS...: the same into variable VAR, without a subshell.
#
# The category process keeps one "posixhelper.py serve" per user running, talking to it over
# a pair of fifos in its local scratch directory: python takes ~40 ms to start, a request
# well under 1 ms. The cases (run one at a time) inherit the fifos. Never call these from two
# processes at once (no `ph ... &`). Change the umask only with posix_umask (the server is
# told the umask and the working directory with each request).
_PX_UMASK=0022
posix_umask() { umask "$1" && _PX_UMASK=$1; }

phv() { _posix_call "$1" root "${@:2}"; }
phnv() { _posix_call "$1" nobody "${@:2}"; }
ph() { local _px_out; _posix_call _px_out root "$@"; printf '%s\n' "$_px_out"; }
phn() { local _px_out; _posix_call _px_out nobody "$@"; printf '%s\n' "$_px_out"; }

_posix_call() { # VAR KIND ARGS...
  local _pxc_var=$1 _pxc_kind=$2 _pxc_w _pxc_r _pxc_line
  shift 2
  if [[ $_pxc_kind == root ]]; then _pxc_w=${_PX_W_root:-} _pxc_r=${_PX_R_root:-}
  else _pxc_w=${_PX_W_nobody:-} _pxc_r=${_PX_R_nobody:-}; fi
  if [[ -z $_pxc_w ]]; then  # no server: one-shot
    if [[ $_pxc_kind == root ]]; then
      _pxc_line=$("$POSIX_PY" -I -S "$POSIX_HELPER" "$@" 2>&1)
    else
      _pxc_line=$(as_nobody "$POSIX_NOBODY_PY" -I -S "$POSIX_NOBODY_HELPER" "$@" 2>&1)
    fi
  else
    # Each request carries an id that the answer repeats; answers with another id (left over
    # from a call that was interrupted) are skipped.
    local IFS=$'\x1f' _pxc_id="$BASHPID.$RANDOM$RANDOM"
    if { printf '%s\n' "$_pxc_id"$'\x1f'"$PWD"$'\x1f'"$_PX_UMASK"$'\x1f'"$*" >&"$_pxc_w"; } 2>/dev/null; then
      while IFS= read -r _pxc_line <&"$_pxc_r"; do
        [[ $_pxc_line == "$_pxc_id"$'\x1f'* ]] && break
      done
    fi
    if [[ $_pxc_line == "$_pxc_id"$'\x1f'* ]]; then
      _pxc_line=${_pxc_line#*$'\x1f'}
    else
      _pxc_line="ERROR: posixhelper $_pxc_kind server is gone: $(tr '\n' ' ' <"$_PX_SCRATCH/$_pxc_kind.err" 2>/dev/null)"
    fi
  fi
  printf -v "$_pxc_var" '%s' "$_pxc_line"
}

# _posix_srv_ensure: (category process) starts both servers unless they are running.
_posix_srv_ensure() {
  [[ ${POSIX_ONESHOT:-0} != 1 ]] || return 0
  if [[ -n ${_PX_PID_root:-} ]] && kill -0 "$_PX_PID_root" 2>/dev/null &&
     [[ -n ${_PX_PID_nobody:-} ]] && kill -0 "$_PX_PID_nobody" 2>/dev/null; then
    return 0
  fi
  _posix_srv_stop kill
  local k
  for k in root nobody; do
    rm -f -- "$_PX_SCRATCH/$k.req" "$_PX_SCRATCH/$k.resp"
    mkfifo -m 0600 "$_PX_SCRATCH/$k.req" "$_PX_SCRATCH/$k.resp" || return 0
  done
  # Each background job opens req (blocking until we open it for writing), then resp.
  "$POSIX_PY" -I -S "$POSIX_HELPER" serve \
    <"$_PX_SCRATCH/root.req" >"$_PX_SCRATCH/root.resp" 2>"$_PX_SCRATCH/root.err" &
  _PX_PID_root=$!
  exec {_PX_W_root}>"$_PX_SCRATCH/root.req" {_PX_R_root}<"$_PX_SCRATCH/root.resp"
  # (not via the as_nobody function: the job's pid must be the server's own)
  "${POSIX_AS_NOBODY[@]}" "$POSIX_NOBODY_PY" -I -S "$POSIX_NOBODY_HELPER" serve {_PX_W_root}>&- {_PX_R_root}<&- \
    <"$_PX_SCRATCH/nobody.req" >"$_PX_SCRATCH/nobody.resp" 2>"$_PX_SCRATCH/nobody.err" &
  _PX_PID_nobody=$!
  exec {_PX_W_nobody}>"$_PX_SCRATCH/nobody.req" {_PX_R_nobody}<"$_PX_SCRATCH/nobody.resp"
}

# _posix_srv_stop [kill]: stops the servers (SIGTERM, or SIGKILL with "kill": one may be stuck
# in a hung filesystem call), without waiting for them and without job notices.
_posix_srv_stop() {
  local k fdw fdr pid w r
  for k in root nobody; do
    fdw=_PX_W_$k fdr=_PX_R_$k pid=_PX_PID_$k
    w=${!fdw:-} r=${!fdr:-}
    if [[ -n $w ]]; then exec {w}>&-; fi
    if [[ -n $r ]]; then exec {r}<&-; fi
    if [[ -n ${!pid:-} ]]; then
      if [[ ${1:-} == kill ]]; then kill -KILL "${!pid}"; else kill -TERM "${!pid}"; fi 2>/dev/null
      disown "${!pid}" 2>/dev/null
    fi
    unset "_PX_W_$k" "_PX_R_$k" "_PX_PID_$k"
  done
  return 0
}

# ----------------------------------------------------------------- assertions --

fail() { printf 'FAIL: %s\n' "$*"; exit 1; }
skip() { printf 'SKIP: %s\n' "$*"; exit 77; }
require_cmd() { command -v "$1" >/dev/null 2>&1 || skip "$1 not installed${2:+ ($2)}"; }

# expect WANT HELPER-ARGS...: runs `ph HELPER-ARGS` and fails unless it prints WANT
# ("OK", an errno name, a value). expect_nobody: the same as uid 65534.
expect() {
  local want=$1 got
  shift
  phv got "$@"
  [[ $got == "$want" ]] || fail "$*: expected $want, got $got"
}
expect_nobody() {
  local want=$1 got
  shift
  phnv got "$@"
  [[ $got == "$want" ]] || fail "as uid $POSIX_NOBODY_UID: $*: expected $want, got $got"
}

# eq ACTUAL EXPECTED WHAT
eq() { [[ $1 == "$2" ]] || fail "$3: expected $2, got $1"; }
# ne ACTUAL NOT-EXPECTED WHAT
ne() { [[ $1 != "$2" ]] || fail "$3: expected a value other than $2, got $1"; }
# gt A B WHAT: integer A > B;  ge A B WHAT: A >= B
gt() { _posix_ints "$@"; (( $1 > $2 )) || fail "$3: expected more than $2, got $1"; }
ge() { _posix_ints "$@"; (( $1 >= $2 )) || fail "$3: expected at least $2, got $1"; }
_posix_ints() {
  [[ $1 =~ ^-?[0-9]+$ ]] || fail "$3: expected a number (compared with $2), got $1"
  [[ $2 =~ ^-?[0-9]+$ ]] || fail "$3: expected a number to compare $1 with, got $2"
}

# st FIELD PATH: prints an lstat(2) field; stf FIELD PATH: a stat(2) field (follows
# symlinks). FIELD: mode (4 octal digits), type (reg dir lnk fifo sock), nlink, ino, uid, gid,
# size, blocks, dev, atime, mtime, ctime (ns). On error prints the errno name (ENOENT, ...).
# stv VAR FIELD PATH / stfv VAR FIELD PATH: the same into VAR, without a subshell.
st() { ph lstat "$@"; }
stf() { ph stat "$@"; }
stv() { phv "$1" lstat "$2" "$3"; }
stfv() { phv "$1" stat "$2" "$3"; }

# is_stat FIELD PATH WANT / is_statf FIELD PATH WANT
is_stat() { local got; stv got "$1" "$2"; eq "$got" "$3" "$1 of $2"; }
is_statf() { local got; stfv got "$1" "$2"; eq "$got" "$3" "$1 of $2 (following symlinks)"; }

exists() { [[ -e $1 || -L $1 ]] || fail "$1 should exist but does not"; }
absent() { [[ ! -e $1 && ! -L $1 ]] || fail "$1 should not exist but does (type $(st type "$1"))"; }

# is_content PATH WANT: the whole content of PATH (as text) is WANT
is_content() {
  local got
  if [[ -f $1 && -r $1 ]]; then got=$(<"$1"); else got="(not a readable file: $(st type "$1"))"; fi
  eq "$got" "$2" "content of $1"
}

# same_bytes PATH REFERENCE-FILE
same_bytes() {
  local out
  out=$(cmp -- "$1" "$2" 2>&1) || fail "content of $1 differs from the expected bytes: $out"
}

# ---------------------------------------------------------------- small tools --

mkfile() { printf '%s' "${2-}" >"$1"; }         # mkfile PATH [CONTENT]
mkname() { local s; printf -v s '%*s' "$1" ''; printf '%s\n' "${s// /${2:-n}}"; }  # mkname LEN [CHAR]
now_ns() { date +%s%N; }
tdelay() { sleep "$POSIX_TIME_DELAY"; }

# nbdir PATH [MODE]: a directory owned by uid/gid 65534 (default mode 0755)
nbdir() { mkdir -- "$1" && chown "$POSIX_NOBODY_UID:$POSIX_NOBODY_GID" -- "$1" && chmod "${2:-0755}" -- "$1"; }
# nbfile PATH [MODE] [CONTENT]: a file owned by uid/gid 65534 (default mode 0644)
nbfile() { mkfile "$1" "${3-}" && chown "$POSIX_NOBODY_UID:$POSIX_NOBODY_GID" -- "$1" && chmod "${2:-0644}" -- "$1"; }

# set_past PATH: sets atime and mtime of PATH to POSIX_PAST_NS (follows symlinks)
set_past() { expect OK utimens "$1" "$POSIX_PAST_NS" "$POSIX_PAST_NS"; }
