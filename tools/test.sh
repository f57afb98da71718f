#!/usr/bin/env bash
# Command 2 of the README (and all that CI runs): install what is missing, build, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
tools/build.sh
meson test -C build --print-errorlogs --num-processes 2 "$@"
