# shellcheck shell=bash
# js-ipfs 0.66 (tools/jsipfs, installed by tools/setup.sh) as the IPFS node of a test: its own
# repo, offline (no swarm, no bootstrap), HTTP RPC API on a free loopback port. It speaks the
# Kubo RPC API closely enough to stand in for Kubo (see include/s3xfs/kubo/client.h for where it
# differs). Source it after tests/cli/lib.sh (it uses TMP, log, fail, skip and free_port):
#
#   source "$REPO_ROOT/tests/ipfs/lib.sh"
#   require_jsipfs               # SKIP (77) when node or tools/jsipfs/node_modules is missing
#   start_jsipfs "$TMP/ipfs"     # init (first time) and start; sets JSIPFS_DIR, JSIPFS_PORT,
#                                # JSIPFS_API (http://127.0.0.1:PORT/api/v0), JSIPFS_PID
#   jsipfs_cli cat CID           # the jsipfs CLI, against the running daemon (slow: ~5 s a call)
#   jsipfs_rpc pin/ls type=recursive   # POST $JSIPFS_API/pin/ls?type=recursive, body on stdout
#   kill_jsipfs                  # SIGKILL (an outage); stop_jsipfs: SIGTERM, then SIGKILL
#   start_jsipfs "$TMP/ipfs"     # again: same repo, same port (a mount's kubo:// URL stays valid)
#
# The daemon is stopped when the test exits: start_jsipfs chains jsipfs_cleanup in front of the
# EXIT trap set at that moment. A test that sets its own EXIT trap afterwards must call
# jsipfs_cleanup from it. Logs: $JSIPFS_DIR.log.
#
# Node 20 lacks Promise.withResolvers, which a dependency of js-ipfs 0.66 calls: every node
# process gets tools/jsipfs/polyfill.cjs preloaded (NODE_OPTIONS).

JSIPFS_HOME="$REPO_ROOT/tools/jsipfs"
JSIPFS_BIN="$JSIPFS_HOME/node_modules/ipfs/src/cli.js"
JSIPFS_PID=
JSIPFS_DIR=

require_jsipfs() {
  command -v node >/dev/null || skip "node not found (run tools/setup.sh)"
  [[ -f "$JSIPFS_BIN" ]] || skip "$JSIPFS_HOME/node_modules missing (run tools/setup.sh)"
  command -v curl >/dev/null || skip "curl not found"
}

_jsipfs_node() {
  IPFS_PATH="$JSIPFS_DIR" NODE_OPTIONS="--require $JSIPFS_HOME/polyfill.cjs${NODE_OPTIONS:+ $NODE_OPTIONS}" \
    node "$JSIPFS_BIN" "$@"
}

# jsipfs_cli ARGS...: the jsipfs command line, against the running daemon. (It is given the API
# as a URL: under Node 20 the CLI fails with "Invalid URL" on the multiaddr the daemon writes
# to the repo's api file.)
jsipfs_cli() {
  [[ -n "$JSIPFS_PID" ]] || fail "jsipfs_cli: no js-ipfs daemon runs"
  _jsipfs_node --api "http://127.0.0.1:$JSIPFS_PORT" "$@"
}

# jsipfs_rpc COMMAND [QUERY...]: one RPC call (POST), the body on stdout; fails on HTTP >= 400.
jsipfs_rpc() {
  local cmd=$1 q="" p
  shift
  for p in "$@"; do q+="${q:+&}$p"; done
  curl -sS --fail-with-body -X POST "$JSIPFS_API/$cmd${q:+?$q}"
}

# Always returns 0: it runs in EXIT traps, where a non-zero status would end the trap early
# (errexit) and skip the cleanups after it. The script's exit status is kept anyway.
jsipfs_cleanup() {
  if [[ -n "$JSIPFS_PID" ]]; then
    kill "$JSIPFS_PID" 2>/dev/null || true
    local i
    for ((i = 0; i < 50; i++)); do kill -0 "$JSIPFS_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$JSIPFS_PID" 2>/dev/null || true
    wait "$JSIPFS_PID" 2>/dev/null || true
    JSIPFS_PID=
  fi
  return 0
}

# start_jsipfs DIR: creates the repo in DIR on first use (ports chosen then, kept in its config),
# starts the daemon and waits until it says it is ready (at most 60 s).
start_jsipfs() {
  JSIPFS_DIR=$1
  [[ -z "$JSIPFS_PID" ]] || fail "start_jsipfs: a js-ipfs daemon already runs (pid $JSIPFS_PID)"
  if [[ ! -f "$JSIPFS_DIR/config" ]]; then
    _jsipfs_node init --profile=test --empty-repo >"$JSIPFS_DIR.init.log" 2>&1 ||
      fail "jsipfs init failed: $(tail -c 1000 "$JSIPFS_DIR.init.log")"
    local api gw rpc
    api=$(free_port); gw=$(free_port); rpc=$(free_port)
    /usr/bin/python3 - "$JSIPFS_DIR/config" "$api" "$gw" "$rpc" <<'EOF' || fail "cannot edit the js-ipfs config"
import json, sys
path, api, gw, rpc = sys.argv[1:]
c = json.load(open(path))
c["Addresses"]["API"] = "/ip4/127.0.0.1/tcp/" + api
c["Addresses"]["Gateway"] = "/ip4/127.0.0.1/tcp/" + gw
c["Addresses"]["RPC"] = "/ip4/127.0.0.1/tcp/" + rpc
c["Addresses"]["Swarm"] = []
c["Bootstrap"] = []
json.dump(c, open(path, "w"), indent=2)
EOF
  fi
  JSIPFS_PORT=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["Addresses"]["API"].split("/")[4])' "$JSIPFS_DIR/config")
  JSIPFS_API="http://127.0.0.1:$JSIPFS_PORT/api/v0"
  # A daemon killed with SIGKILL leaves its lock and api file behind.
  rm -rf "$JSIPFS_DIR/repo.lock" "$JSIPFS_DIR/api"  # the lock is a directory
  local log="$JSIPFS_DIR.log" from i
  touch "$log"
  from=$(($(wc -c <"$log") + 1))
  # exec: $! is the node process itself, so killing it stops the daemon.
  (
    export IPFS_PATH="$JSIPFS_DIR"
    export NODE_OPTIONS="--require $JSIPFS_HOME/polyfill.cjs${NODE_OPTIONS:+ $NODE_OPTIONS}"
    exec node "$JSIPFS_BIN" daemon --offline
  ) >>"$log" 2>&1 &
  JSIPFS_PID=$!
  if [[ "$(trap -p EXIT)" != *jsipfs_cleanup* ]]; then
    local prev
    prev=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT\$//")
    # shellcheck disable=SC2064  # expand the previous trap now
    trap "jsipfs_cleanup; ${prev:-:}" EXIT
  fi
  for ((i = 0; i < 600; i++)); do
    tail -c +"$from" "$log" | grep -q 'Daemon is ready' && return 0
    kill -0 "$JSIPFS_PID" 2>/dev/null || {
      JSIPFS_PID=
      fail "js-ipfs daemon exited while starting: $(tail -c +"$from" "$log" | tail -c 1500)"
    }
    sleep 0.1
  done
  fail "js-ipfs daemon not ready after 60 s: $(tail -c +"$from" "$log" | tail -c 1500)"
}

# kill_jsipfs: SIGKILL the daemon (an outage); stop_jsipfs: a clean stop.
kill_jsipfs() {
  [[ -n "$JSIPFS_PID" ]] || return 0
  kill -9 "$JSIPFS_PID" 2>/dev/null || true
  wait "$JSIPFS_PID" 2>/dev/null || true
  JSIPFS_PID=
}
stop_jsipfs() { jsipfs_cleanup; }

# jsipfs_recursive_pins: the recursive pins of the node, one CID (as the node prints it) a line.
jsipfs_recursive_pins() {
  jsipfs_rpc pin/ls type=recursive cid-base=base32 |
    /usr/bin/python3 -c 'import json,sys; [print(k) for k in json.load(sys.stdin)["Keys"]]'
}
