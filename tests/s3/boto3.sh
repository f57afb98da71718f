#!/usr/bin/env bash
# boto3 (Debian's python3-boto3, run with /usr/bin/python3) against a real `s3xfs serve`
# listener: every operation of S3_CLIENTS.md, see tests/s3/boto3_client.py.
#
# Usage: tests/s3/boto3.sh /path/to/s3xfs
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
s3_init "$@"
PY=/usr/bin/python3
require_exe "$PY"
"$PY" -c 'import boto3' 2>/dev/null || skip "python3-boto3 not installed (run tools/setup.sh)"
s3_start
s3_aws_env
export S3_ACCESS_KEY2 S3_SECRET_KEY2 TMP
"$PY" "$here/boto3_client.py" || fail "boto3_client.py failed"
log "PASS ($(elapsed) s)"
