#!/usr/bin/env python3
"""A stand-in for systemd's notification socket, driving one s3xfs daemon (sd_notify.sh runs it).

    sd_notify.py mount|serve|node S3XFS TMPDIR

Binds a datagram socket (a path for mount, an abstract '@' name for serve and node), starts the
daemon in the foreground with NOTIFY_SOCKET (and WATCHDOG_USEC, WATCHDOG_PID) set as systemd
does, and checks, reading the sender's pid from SCM_CREDENTIALS as systemd does:
  - READY=1 comes once, from the daemon's own pid, and only when the mount answers and the
    listener accepts (checked the moment READY=1 arrives), with a STATUS= line;
  - WATCHDOG=1 pings arrive every half interval when WATCHDOG_USEC asks for them, and none
    when WATCHDOG_PID names another process;
  - SIGTERM brings STOPPING=1, then exit 0; the mount is gone and data written through a file
    left open was flushed (mount: checked by mounting again);
  - a mount that fails never says READY=1.
Prints what it checks; exits 1 with "FAIL: ..." on the first failure.
"""
import atexit
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time

MODE, S3XFS, TMP = sys.argv[1], sys.argv[2], sys.argv[3]
WATCHDOG_USEC = 400_000  # pings expected every 0.2 s


def log(msg):
    print(f"[sd_notify:{MODE}] {msg}", flush=True)


def fail(msg):
    print(f"[sd_notify:{MODE}] FAIL: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class NotifySocket:
    """systemd's side of the protocol: a datagram socket that reports each sender's pid."""

    def __init__(self, abstract):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"s3xfs-test-{os.getpid()}-{MODE}"
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            path = os.path.join(TMP, f"notify-{MODE}.sock")
            self.sock.bind(path)
            self.address = path
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)

    def recv(self, timeout):
        """(pid, {VAR: VALUE}) of the next datagram, or None after `timeout` seconds."""
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            return None
        data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(struct.calcsize("iII")))
        pid = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", payload[: struct.calcsize("iII")])[0]
        fields = {}
        for line in data.decode().split("\n"):
            if line:
                key, _, value = line.partition("=")
                fields[key] = value
        return pid, fields


STARTED = []


@atexit.register
def kill_leftovers():
    """After a failure: no daemon may outlive the test (the shell script unmounts)."""
    for proc in STARTED:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def start(argv, sock, watchdog_pid=None):
    env = dict(os.environ)
    env.pop("WATCHDOG_PID", None)
    env["NOTIFY_SOCKET"] = sock.address
    env["WATCHDOG_USEC"] = str(WATCHDOG_USEC)
    if watchdog_pid == "self":
        # systemd sets WATCHDOG_PID to the main pid: exec keeps the shell's pid.
        argv = ["sh", "-c", 'WATCHDOG_PID=$$ exec "$@"', "sh"] + argv
    elif watchdog_pid is not None:
        env["WATCHDOG_PID"] = str(watchdog_pid)
    err = open(os.path.join(TMP, f"{MODE}.stderr"), "w")
    proc = subprocess.Popen(argv, env=env, stderr=err, stdout=err)
    STARTED.append(proc)
    return proc


def stderr_of():
    with open(os.path.join(TMP, f"{MODE}.stderr")) as f:
        return f.read()[-2000:]


def wait_ready(sock, proc, check_at_ready, timeout=60):
    """Waits for READY=1; runs check_at_ready(STATUS) the moment it arrives. Returns STATUS."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = sock.recv(0.2)
        if got is None:
            if proc.poll() is not None:
                fail(f"daemon exited ({proc.returncode}) before READY=1: {stderr_of()}")
            continue
        pid, fields = got
        if "READY" in fields:
            if pid != proc.pid:
                fail(f"READY=1 from pid {pid}, not the daemon's {proc.pid} (NotifyAccess=main)")
            if fields["READY"] != "1":
                fail(f"READY={fields['READY']}")
            status = fields.get("STATUS", "")
            if not status:
                fail("READY=1 without a STATUS= line")
            check_at_ready(status)
            log(f"  ok: READY=1 from the daemon's pid, when it serves (STATUS={status})")
            return status
        if "STOPPING" in fields:
            fail("STOPPING=1 before READY=1")
    fail(f"no READY=1 within {timeout} s: {stderr_of()}")


def count_pings(sock, proc, seconds):
    """WATCHDOG=1 datagrams from the daemon in `seconds`; any READY=1 is an error."""
    n, end = 0, time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        got = sock.recv(left)
        if got is None:
            break
        pid, fields = got
        if "READY" in fields:
            fail("a second READY=1")
        if fields.get("WATCHDOG") == "1":
            if pid != proc.pid:
                fail(f"WATCHDOG=1 from pid {pid}, not the daemon's {proc.pid}")
            n += 1
    return n


def check_pings(sock, proc, expect):
    n = count_pings(sock, proc, 1.5)
    if expect and n < 4:  # every 0.2 s: about 7 in 1.5 s
        fail(f"only {n} WATCHDOG=1 pings in 1.5 s with WATCHDOG_USEC={WATCHDOG_USEC}")
    if not expect and n:
        fail(f"{n} WATCHDOG=1 pings although WATCHDOG_PID names another process")
    log(f"  ok: {n} WATCHDOG=1 pings in 1.5 s" + ("" if expect else " (WATCHDOG_PID is not us)"))


def stop(sock, proc, timeout=120):
    """SIGTERM: STOPPING=1 from the daemon, then exit 0."""
    proc.send_signal(signal.SIGTERM)
    stopping = False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = sock.recv(0.2)
        if got is not None:
            pid, fields = got
            if "READY" in fields:
                fail("READY=1 while stopping")
            if fields.get("STOPPING") == "1":
                if pid != proc.pid:
                    fail(f"STOPPING=1 from pid {pid}")
                stopping = True
            continue
        if proc.poll() is not None:
            break
    if proc.poll() is None:
        proc.kill()
        fail(f"no exit within {timeout} s of SIGTERM")
    if not stopping:
        fail("exited without STOPPING=1")
    if proc.returncode != 0:
        fail(f"exit status {proc.returncode} after SIGTERM: {stderr_of()}")
    log("  ok: SIGTERM -> STOPPING=1, exit 0")


def tcp_accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        return True
    except OSError:
        return False


def run_mount():
    mnt, data = os.path.join(TMP, "mnt"), os.path.join(TMP, "data")
    os.makedirs(mnt, exist_ok=True)
    port = free_port()

    log("a mount that fails (no mount point) never says READY=1")
    sock = NotifySocket(abstract=False)
    proc = start([S3XFS, "mount", "--foreground", "--data-dir", data, "--s3-listen", "none",
                  os.path.join(TMP, "missing")], sock)
    proc.wait(60)
    if proc.returncode == 0:
        fail("mount on a missing directory succeeded")
    while (got := sock.recv(0.1)) is not None:
        if "READY" in got[1]:
            fail("READY=1 from a mount that failed")
    log(f"  ok: exit {proc.returncode}, no READY=1")

    log("mount --foreground: READY=1 once the mount and the S3 listener serve")

    def at_ready(_):
        if not os.path.ismount(mnt):
            fail("READY=1 before the mount point is mounted")
        os.listdir(mnt)  # answers (blocks until INIT is answered, fails if the mount is dead)
        if not tcp_accepts(port):
            fail("READY=1 before the S3 listener accepts")

    proc = start([S3XFS, "mount", "--foreground", "--data-dir", data,
                  "--s3-listen", f"127.0.0.1:{port}", "--cache-size", str(64 << 20), mnt], sock)
    status = wait_ready(sock, proc, at_ready)
    if mnt not in status or f"127.0.0.1:{port}" not in status:
        fail(f"STATUS does not name the mount point and the listener: {status}")
    check_pings(sock, proc, expect=True)

    log("SIGTERM with a file still open: flushed, STOPPING=1, unmounted, exit 0")
    os.mkdir(os.path.join(mnt, "bucket"))
    payload = os.urandom(3 << 20)
    fd = os.open(os.path.join(mnt, "bucket", "open-file"), os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, payload)  # stays dirty in the daemon's cache: not closed, not fsynced
    stop(sock, proc)
    if os.path.ismount(mnt):
        fail("still mounted after exit")
    log("  ok: the mount is gone")
    try:
        os.close(fd)  # the connection is gone: nothing reaches a daemon any more
    except OSError:
        pass

    # Read it back through a new mount (daemon mode returns once it serves).
    subprocess.run([S3XFS, "mount", "--data-dir", data, "--s3-listen", "none", mnt], check=True)
    try:
        with open(os.path.join(mnt, "bucket", "open-file"), "rb") as f:
            back = f.read()
    finally:
        subprocess.run(["fusermount3", "-u", mnt], check=True)
    if back != payload:
        fail(f"the open file was not flushed at exit: {len(back)} bytes back of {len(payload)}")
    log(f"  ok: all {len(payload)} bytes written before SIGTERM are there after a remount")


def run_serve():
    port = free_port()
    sock = NotifySocket(abstract=True)
    log("serve (abstract socket, WATCHDOG_PID = its pid): READY=1 once the listener accepts")
    proc = start([S3XFS, "serve", "--data-dir", os.path.join(TMP, "serve-data"),
                  "--s3-listen", f"127.0.0.1:{port}"], sock, watchdog_pid="self")

    def at_ready(_):
        if not tcp_accepts(port):
            fail("READY=1 before the S3 listener accepts")

    status = wait_ready(sock, proc, at_ready)
    if f"127.0.0.1:{port}" not in status:
        fail(f"STATUS does not name the listener: {status}")
    check_pings(sock, proc, expect=True)
    stop(sock, proc)


def run_node():
    sock = NotifySocket(abstract=True)
    log("node (WATCHDOG_PID = another process): READY=1 once gRPC accepts, no pings")
    proc = start([S3XFS, "node", "--data-dir", os.path.join(TMP, "node-data"),
                  "--listen", "127.0.0.1:0"], sock, watchdog_pid=1)

    def at_ready(status):
        # "TemporalX node on 127.0.0.1:PORT": the port is only known from the status line.
        port = int(status.rsplit(":", 1)[1])
        if not tcp_accepts(port):
            fail(f"READY=1 before anything accepts on port {port}")

    wait_ready(sock, proc, at_ready)
    check_pings(sock, proc, expect=False)
    stop(sock, proc)


{"mount": run_mount, "serve": run_serve, "node": run_node}[MODE]()
log("PASS")
