#!/usr/bin/env bash
# Installs every Debian and npm package s3xfs and its tests need.
# Idempotent: when everything is present it only checks and returns (well under a second
# for the Debian part; npm is skipped when tools/js/node_modules and tools/jsipfs/node_modules
# match their package-lock.json).
#
# Usage: tools/setup.sh [--no-test-deps]   (--no-test-deps: only what building and running need)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
test_deps=1
[ "${1:-}" = "--no-test-deps" ] && test_deps=0

# Build: compiler, meson, libraries named by the design card.
deb_build=(g++ meson ninja-build pkg-config libssl-dev libsqlite3-dev libfuse3-dev fuse3
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  libboost-program-options-dev libboost-dev libspdlog-dev libgtest-dev libgmock-dev)
# Tests: openssl (ChaCha20 vectors), node/npm (reference importer, ipfs-car), time (RSS),
# and the tools run on the mount (rsync, git, sqlite3, fio, attr for xattrs).
deb_test=(openssl time python3 rsync git sqlite3 fio attr util-linux)
# An independent TemporalX client for tests/temporalx (Python grpcio + protobuf, stubs from protoc).
deb_test+=(python3-grpcio python3-protobuf)
# S3 client matrix (tests/s3): rclone, s3cmd, s3fs-fuse, restic, curl.
deb_test+=(rclone s3cmd s3fs restic curl)
# aws cli and boto3 (tests/s3/awscli.sh, tests/s3/boto3.sh; they run Debian's /usr/bin ones).
deb_test+=(awscli python3-boto3)
# Running as a service (tests/cli/install.sh, unit_syscalls.sh): systemd-analyze verify, strace,
# man --warnings.
deb_test+=(systemd strace man-db)
# An independent Prometheus text parser for tests/s3/metrics.sh.
deb_test+=(python3-prometheus-client)
# Fuzzing (tests/fuzz/run.sh: clang++ and its libFuzzer runtime); nginx is the GET baseline of
# tools/bench/s3.sh.
deb_test+=(clang libclang-rt-14-dev nginx-light)
# Node.js and npm: any installation will do (the machine may have its own, which conflicts with
# Debian's packages); Debian's are installed only when the commands are missing.
node_pkgs=(nodejs npm)

missing=()
wanted=("${deb_build[@]}")
((test_deps)) && wanted+=("${deb_test[@]}")
if ((test_deps)) && { ! command -v node >/dev/null || ! command -v npm >/dev/null; }; then
  wanted+=("${node_pkgs[@]}")
fi
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=(); [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${missing[@]}" ||
    { "${sudo_cmd[@]}" apt-get update && "${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${missing[@]}"; }
fi

# npm packages used by tests and benchmarks, each directory with its own lock: tools/js
# (reference importer, ipfs-car, AWS SDK) and tools/jsipfs (js-ipfs 0.66, the IPFS node of the
# Kubo back end's tests: ~290 MB, a few minutes the first time).
((test_deps)) || exit 0
# tools/jsipfs uses `npm install --no-save` (the locked versions, lock left unchanged) instead
# of `npm ci`: js-ipfs lists optional WebRTC packages, one of which depends on a GitHub tarball;
# where GitHub cannot be reached npm skips it (optional) and leaves it out of the lock, and
# `npm ci` then refuses the lock as out of sync.
for dir in js jsipfs; do
  stamp="$here/$dir/node_modules/.s3xfs-stamp"
  if [ ! -f "$stamp" ] || ! cmp -s "$here/$dir/package-lock.json" "$stamp"; then
    echo "setup: installing npm packages in tools/$dir"
    if [ "$dir" = jsipfs ]; then
      (cd "$here/$dir" && npm install --no-save --no-audit --no-fund --loglevel=error)
    else
      (cd "$here/$dir" && npm ci --no-audit --no-fund --loglevel=error)
    fi
    cp "$here/$dir/package-lock.json" "$stamp"
  fi
done
