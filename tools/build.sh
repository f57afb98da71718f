#!/usr/bin/env bash
# Configures (once) and builds s3xfs into ./build with two jobs.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/build.ninja ]; then
  meson setup build "$@"
fi
meson compile -C build -j 2
