#!/usr/bin/env bash
# @aws-sdk/client-s3 v3 (npm, tools/js) with its default CRC32 checksums and aws-chunked
# streaming uploads against a real `s3xfs serve` listener; see tests/s3/jssdk.mjs.
#
# Usage: tests/s3/jssdk.sh /path/to/s3xfs
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
s3_init "$@"
require_cmd node
[[ -d "$JS_DIR/node_modules/@aws-sdk/client-s3" && -d "$JS_DIR/node_modules/@aws-sdk/lib-storage" ]] ||
  skip "$JS_DIR/node_modules/@aws-sdk missing (run tools/setup.sh)"
s3_start
export JS_DIR TMP S3_ENDPOINT S3_ACCESS_KEY S3_SECRET_KEY
# No AWS_* variables or config files from the machine: only what jssdk.mjs passes.
env -u AWS_PROFILE -u AWS_REGION -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY \
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
  node --no-warnings "$here/jssdk.mjs" || fail "jssdk.mjs failed"
log "PASS ($(elapsed) s)"
