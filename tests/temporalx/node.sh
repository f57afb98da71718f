#!/usr/bin/env bash
# node_grpc: `s3xfs node` against an independent TemporalX client (node_client.py: grpcio's
# generic API with stubs protoc generates here from proto/temporalx.proto; every answer checked
# against CIDs and encodings computed in Python).
#
# usage: node.sh /path/to/s3xfs
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../cli/lib.sh
source "$here/../cli/lib.sh"
s3xfs_init "$@"

# Debian's python3-grpcio and python3-protobuf (protoc 3.21 matches them); /usr/bin/python3
# because pyenv shims may shadow python3.
PY=/usr/bin/python3
command -v protoc >/dev/null || skip "protoc not found"
"$PY" -c 'import grpc, google.protobuf' 2>/dev/null ||
  skip "python3-grpcio / python3-protobuf not installed"

mkdir -p "$TMP/stubs"
run_ok "protoc --python_out" protoc --python_out="$TMP/stubs" -I "$REPO_ROOT/proto" \
  "$REPO_ROOT/proto/temporalx.proto"
"$PY" "$here/node_client.py" "$S3XFS" "$TMP/stubs" "$TMP"
