#!/usr/bin/env bash
# The daemons speak systemd's notification protocol (sd_notify.py plays systemd): READY=1 only
# once the mount and the S3 listener serve (mount), the listener accepts (serve) or the gRPC
# listener accepts (node); WATCHDOG=1 pings every half WATCHDOG_USEC unless WATCHDOG_PID names
# another process; STOPPING=1 on SIGTERM, exit 0, the mount gone and dirty data flushed.
# usage: sd_notify.sh /path/to/s3xfs
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
s3xfs_init "$@"
[[ -e /dev/fuse ]] || skip "no /dev/fuse"
command -v python3 >/dev/null || skip "python3 missing"
cleanup_mount() {
  if mountpoint -q "$TMP/mnt" 2>/dev/null; then fusermount3 -u "$TMP/mnt" || umount -l "$TMP/mnt"; fi
  cleanup_tmp
}
trap cleanup_mount EXIT
for mode in mount serve node; do
  python3 "$here/sd_notify.py" "$mode" "$S3XFS" "$TMP"
done
log "PASS"
