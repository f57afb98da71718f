#!/usr/bin/env python3
"""posixhelper.py - tiny syscall CLI for the s3xfs POSIX conformance suite.

Every command makes one (or a few) system calls that the shell cannot make with
exact errno reporting, and prints exactly one line:

  * "OK"               the call(s) succeeded (commands that only act),
  * a value            commands that query (stat, readlink, pread, getxattr, ...),
  * an errno name      e.g. "ENOENT", "EEXIST" when the call failed,
  * "FAIL: ..."        scenario commands (unlink-open, randio, ...) whose own
                       checks failed; the text says what was expected and got.

The exit status is 0 whenever a line was printed, 2 on a usage error, so that the
shell compares the printed line with the expected one (see lib.sh: expect).

Usage: posixhelper.py COMMAND ARGS...   (posixhelper.py help lists the commands)
       posixhelper.py serve   (one request per line on stdin, one answer line each; lib.sh
                               uses it to avoid a python start-up per call)
Numbers: modes are octal ("0644"), sizes/offsets decimal, times in nanoseconds
(or NOW / OMIT for utimens). DATA arguments are text, or hex bytes when written
"hex:0a0b...". Open flags: names joined with "|" ("O_WRONLY|O_CREAT|O_EXCL",
the "O_" may be left out).
"""

import errno
import os
import stat
import sys
import time

AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_SYMLINK_FOLLOW = 0x400
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2
RENAME_FLAGS = {"NOREPLACE": 1, "EXCHANGE": 2, "WHITEOUT": 4}

COMMANDS = {}


class Usage(Exception):
    pass


def command(name, nargs, help_text):
    """Register a command taking nargs arguments (an int, or a (min, max) pair)."""
    def wrap(fn):
        COMMANDS[name] = (fn, nargs, help_text)
        return fn
    return wrap


def ename(e):
    if e.errno == errno.EOPNOTSUPP:  # == ENOTSUP on Linux; print the usual name
        return "EOPNOTSUPP"
    return errno.errorcode.get(e.errno, "E%d" % e.errno)


def parse_mode(s):
    return int(s, 8)


def parse_int(s):
    return int(s, 0) if s.lower().startswith(("0x", "0o", "0b")) else int(s)


def parse_flags(s):
    v = 0
    for tok in s.replace(",", "|").split("|"):
        tok = tok.strip()
        if not tok:
            continue
        if tok.isdigit():
            v |= int(tok)
            continue
        name = tok if tok.startswith("O_") else "O_" + tok
        if not hasattr(os, name):
            raise Usage("unknown open flag %r" % tok)
        v |= getattr(os, name)
    return v


def parse_data(s):
    if s.startswith("hex:"):
        return bytes.fromhex(s[4:])
    return s.encode()


def fmt_bytes(b):
    """Printable ASCII is printed as is, anything else as hex:...."""
    if all(32 <= c < 127 for c in b) and not b.startswith(b"hex:"):
        return b.decode()
    return "hex:" + b.hex()


_LIBC = []


def libc():
    if _LIBC:
        return _LIBC[0]
    import ctypes
    import ctypes.util
    lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    _LIBC.append((ctypes, lib))
    return ctypes, lib


def ctypes_call(fn, *args):
    """Call a libc function; raise OSError with its errno when it returns -1."""
    ctypes, _ = libc()
    r = fn(*args)
    if r == -1:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


# --- plain system calls -------------------------------------------------------

@command("open", (2, 3), "PATH FLAGS [MODE]   open(2) then close(2)")
def c_open(path, flags, mode="0644"):
    fd = os.open(path, parse_flags(flags), parse_mode(mode))
    os.close(fd)
    return "OK"


@command("write", (2, 4), "PATH DATA [FLAGS [MODE]]   open (default O_WRONLY|O_CREAT|O_TRUNC, 0644), write DATA")
def c_write(path, data, flags="O_WRONLY|O_CREAT|O_TRUNC", mode="0644"):
    fd = os.open(path, parse_flags(flags), parse_mode(mode))
    try:
        buf = parse_data(data)
        n = os.write(fd, buf)
        if n != len(buf):
            return "FAIL: short write: expected %d bytes, wrote %d" % (len(buf), n)
    finally:
        os.close(fd)
    return "OK"


@command("read", 1, "PATH   open O_RDONLY and print the whole content")
def c_read(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while True:
            b = os.read(fd, 1 << 16)
            if not b:
                break
            chunks.append(b)
    finally:
        os.close(fd)
    return fmt_bytes(b"".join(chunks))


@command("pwrite", 3, "PATH OFFSET DATA   pwrite(2) into PATH (O_WRONLY|O_CREAT, no truncation)")
def c_pwrite(path, off, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        buf = parse_data(data)
        n = os.pwrite(fd, buf, parse_int(off))
        if n != len(buf):
            return "FAIL: short pwrite: expected %d bytes, wrote %d" % (len(buf), n)
    finally:
        os.close(fd)
    return "OK"


@command("pread", 3, "PATH OFFSET LEN   pread(2); prints the bytes (hex:... unless printable)")
def c_pread(path, off, length):
    fd = os.open(path, os.O_RDONLY)
    try:
        return fmt_bytes(os.pread(fd, parse_int(length), parse_int(off)))
    finally:
        os.close(fd)


@command("mkdir", (1, 2), "PATH [MODE]   mkdir(2), default mode 0777")
def c_mkdir(path, mode="0777"):
    os.mkdir(path, parse_mode(mode))
    return "OK"


@command("rmdir", 1, "PATH   rmdir(2)")
def c_rmdir(path):
    os.rmdir(path)
    return "OK"


@command("unlink", 1, "PATH   unlink(2)")
def c_unlink(path):
    os.unlink(path)
    return "OK"


@command("link", 2, "OLD NEW   link(2) (does not follow a symlink OLD)")
def c_link(old, new):
    os.link(old, new, follow_symlinks=False)
    return "OK"


@command("linkf", 2, "OLD NEW   linkat(AT_SYMLINK_FOLLOW)")
def c_linkf(old, new):
    # os.link(follow_symlinks=True) calls plain link(2), which does not follow on Linux.
    ctypes, lib = libc()
    fn = lib.linkat
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    fn.restype = ctypes.c_int
    ctypes_call(fn, AT_FDCWD, os.fsencode(old), AT_FDCWD, os.fsencode(new), AT_SYMLINK_FOLLOW)
    return "OK"


@command("symlink", 2, "TARGET PATH   symlink(2)")
def c_symlink(target, path):
    os.symlink(target, path)
    return "OK"


@command("readlink", 1, "PATH   readlink(2)")
def c_readlink(path):
    return os.readlink(path)


@command("mkfifo", (1, 2), "PATH [MODE]   mkfifo(3), default mode 0666")
def c_mkfifo(path, mode="0666"):
    os.mkfifo(path, parse_mode(mode))
    return "OK"


@command("mknod-fifo", (1, 2), "PATH [MODE]   mknod(2) with S_IFIFO, default mode 0666")
def c_mknod_fifo(path, mode="0666"):
    os.mknod(path, stat.S_IFIFO | parse_mode(mode))
    return "OK"


@command("rename", 2, "OLD NEW   rename(2)")
def c_rename(old, new):
    os.rename(old, new)
    return "OK"


@command("rename2", 3, "FLAGS OLD NEW   renameat2(2); FLAGS: 0, NOREPLACE, EXCHANGE, joined by |, or a number")
def c_rename2(flags, old, new):
    v = 0
    for tok in flags.split("|"):
        tok = tok.strip().upper().replace("RENAME_", "")
        if tok.isdigit():
            v |= int(tok)
        elif tok in RENAME_FLAGS:
            v |= RENAME_FLAGS[tok]
        else:
            raise Usage("unknown rename flag %r" % tok)
    ctypes, lib = libc()
    fn = lib.renameat2
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    ctypes_call(fn, AT_FDCWD, os.fsencode(old), AT_FDCWD, os.fsencode(new), v)
    return "OK"


@command("chmod", 2, "PATH MODE   chmod(2) (follows symlinks)")
def c_chmod(path, mode):
    os.chmod(path, parse_mode(mode))
    return "OK"


@command("chown", 3, "PATH UID GID   chown(2); -1 leaves one unchanged")
def c_chown(path, uid, gid):
    os.chown(path, int(uid), int(gid))
    return "OK"


@command("lchown", 3, "PATH UID GID   lchown(2)")
def c_lchown(path, uid, gid):
    os.lchown(path, int(uid), int(gid))
    return "OK"


@command("truncate", 2, "PATH LENGTH   truncate(2)")
def c_truncate(path, length):
    os.truncate(path, parse_int(length))
    return "OK"


@command("ftruncate", 2, "PATH LENGTH   open O_WRONLY, ftruncate(2)")
def c_ftruncate(path, length):
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, parse_int(length))
    finally:
        os.close(fd)
    return "OK"


def _ts(v):
    if v.upper() == "NOW":
        return 0, UTIME_NOW
    if v.upper() == "OMIT":
        return 0, UTIME_OMIT
    if ":" in v:  # raw SEC:NSEC, e.g. to pass an out-of-range tv_nsec
        sec, nsec = v.split(":", 1)
        return int(sec), int(nsec)
    n = int(v)
    return n // 1000000000, n % 1000000000


def _utimensat(path, atime, mtime, flags):
    ctypes, lib = libc()

    class Timespec(ctypes.Structure):
        _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]

    fn = lib.utimensat
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int]
    fn.restype = ctypes.c_int
    if atime is None:
        times = None
    else:
        arr = (Timespec * 2)(Timespec(*_ts(atime)), Timespec(*_ts(mtime)))
        times = ctypes.cast(arr, ctypes.c_void_p)
    ctypes_call(fn, AT_FDCWD, os.fsencode(path), times, flags)
    return "OK"


@command("utimens", (1, 3), "PATH [ATIME MTIME]   utimensat(2); times in ns, SEC:NSEC, NOW or OMIT; none = NULL")
def c_utimens(path, atime=None, mtime=None):
    if (atime is None) != (mtime is None):
        raise Usage("utimens takes both ATIME and MTIME or neither")
    return _utimensat(path, atime, mtime, 0)


@command("lutimens", 3, "PATH ATIME MTIME   utimensat(2) with AT_SYMLINK_NOFOLLOW")
def c_lutimens(path, atime, mtime):
    return _utimensat(path, atime, mtime, AT_SYMLINK_NOFOLLOW)


def _type(m):
    for test, name in ((stat.S_ISREG, "reg"), (stat.S_ISDIR, "dir"), (stat.S_ISLNK, "lnk"),
                       (stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "sock"), (stat.S_ISCHR, "chr"),
                       (stat.S_ISBLK, "blk")):
        if test(m):
            return name
    return "unknown"


STAT_FIELDS = {
    "mode": lambda s: "%04o" % stat.S_IMODE(s.st_mode),
    "type": lambda s: _type(s.st_mode),
    "nlink": lambda s: str(s.st_nlink),
    "ino": lambda s: str(s.st_ino),
    "dev": lambda s: str(s.st_dev),
    "uid": lambda s: str(s.st_uid),
    "gid": lambda s: str(s.st_gid),
    "size": lambda s: str(s.st_size),
    "blocks": lambda s: str(s.st_blocks),
    "atime": lambda s: str(s.st_atime_ns),
    "mtime": lambda s: str(s.st_mtime_ns),
    "ctime": lambda s: str(s.st_ctime_ns),
}


@command("stat", 2, "FIELD PATH   stat(2) field: " + ",".join(STAT_FIELDS))
def c_stat(field, path):
    if field not in STAT_FIELDS:
        raise Usage("unknown stat field %r" % field)
    return STAT_FIELDS[field](os.stat(path))


@command("lstat", 2, "FIELD PATH   lstat(2) field")
def c_lstat(field, path):
    if field not in STAT_FIELDS:
        raise Usage("unknown stat field %r" % field)
    return STAT_FIELDS[field](os.lstat(path))


@command("listdir", 1, "PATH   readdir(3) names without . and .., sorted, space separated")
def c_listdir(path):
    return " ".join(sorted(os.listdir(path)))


@command("exec", 1, "PATH   execv(PATH) in a child; prints its output, or the errno name when exec fails")
def c_exec(path):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.dup2(w, 1)
            os.dup2(w, 2)
            os.execv(path, [path])
        except OSError as e:
            os.write(1, ename(e).encode())
        finally:
            os._exit(127)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 4096)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode(errors="replace").strip().replace("\n", " | ")


@command("fsync", 1, "PATH   open O_RDONLY (a directory too), fsync(2)")
def c_fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return "OK"


@command("fdatasync", 1, "PATH   open O_WRONLY, write 1 byte at the end, fdatasync(2)")
def c_fdatasync(path):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, b"x")
        os.fdatasync(fd)
    finally:
        os.close(fd)
    return "OK"


@command("rmtree", 1, "PATH   removes PATH and everything under it (like rm -rf; PATH may be missing)")
def c_rmtree(path):
    import shutil
    errors = []
    if not os.path.lexists(path):
        return "OK"

    def onerror(func, p, exc_info):
        e = exc_info[1]
        errors.append("%s %s: %s" % (func.__name__, p, ename(e) if isinstance(e, OSError) else e))
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, onerror=onerror)
    else:
        os.unlink(path)
    return "OK" if not errors else "FAIL: " + "; ".join(errors[:3])


_WATCHES = {}


@command("watch", 3, "PGID SECONDS MARKER   (serve mode) after SECONDS create file MARKER, SIGTERM "
         "process group PGID, SIGKILL it 5 s later")
def c_watch(pgid, seconds, marker):
    import signal
    import threading
    state = {"fired": False}

    def kill(sig):
        if not state["fired"]:
            state["fired"] = True
            try:
                open(marker, "w").close()
            except OSError:
                pass
        try:
            os.killpg(int(pgid), sig)
        except OSError:
            return
        if sig == signal.SIGTERM:
            t2 = threading.Timer(5.0, kill, (signal.SIGKILL,))
            t2.daemon = True
            state["timer"] = t2
            t2.start()

    t = threading.Timer(float(seconds), kill, (signal.SIGTERM,))
    t.daemon = True
    state["timer"] = t
    _WATCHES[pgid] = state
    t.start()
    return "OK"


@command("unwatch", 1, "PGID   (serve mode) cancels watch PGID; prints TIMEDOUT if it had fired, else OK")
def c_unwatch(pgid):
    state = _WATCHES.pop(pgid, None)
    if state is None:
        return "OK"
    state["timer"].cancel()
    return "TIMEDOUT" if state["fired"] else "OK"


# --- extended attributes ------------------------------------------------------

@command("getxattr", 2, "PATH NAME   getxattr(2); prints the value (hex:... unless printable)")
def c_getxattr(path, name):
    return fmt_bytes(os.getxattr(path, name))


@command("setxattr", (3, 4), "PATH NAME VALUE [create|replace]   setxattr(2)")
def c_setxattr(path, name, value, mode=""):
    flags = {"": 0, "create": os.XATTR_CREATE, "replace": os.XATTR_REPLACE}.get(mode)
    if flags is None:
        raise Usage("setxattr mode must be create or replace")
    os.setxattr(path, name, parse_data(value), flags)
    return "OK"


@command("lsetxattr", 3, "PATH NAME VALUE   lsetxattr(2) (on a symlink itself)")
def c_lsetxattr(path, name, value):
    os.setxattr(path, name, parse_data(value), follow_symlinks=False)
    return "OK"


@command("removexattr", 2, "PATH NAME   removexattr(2)")
def c_removexattr(path, name):
    os.removexattr(path, name)
    return "OK"


@command("listxattr", 1, "PATH   listxattr(2), user.* names sorted, space separated")
def c_listxattr(path):
    return " ".join(sorted(n for n in os.listxattr(path) if n.startswith("user.")))


# --- scenarios (several calls, checked here; print OK or FAIL: expected/got) ----

class Check(Exception):
    pass


def check(what, got, want):
    if got != want:
        raise Check("%s: expected %r, got %r" % (what, want, got))


def scenario(fn):
    def run(*args):
        try:
            return fn(*args)
        except Check as e:
            return "FAIL: %s" % e
    run.__doc__ = fn.__doc__
    return run


@command("unlink-open", 1, "PATH   write, unlink while open: fd stays readable/writable, nlink 0")
@scenario
def c_unlink_open(path):
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, b"hello world")
        fd2 = os.open(path, os.O_RDONLY)
        os.unlink(path)
        check("path exists after unlink", os.path.lexists(path), False)
        check("fstat nlink after unlink", os.fstat(fd).st_nlink, 0)
        check("pread via first fd after unlink", os.pread(fd, 64, 0), b"hello world")
        check("pread via second fd after unlink", os.pread(fd2, 64, 0), b"hello world")
        check("pwrite after unlink", os.pwrite(fd, b"!", 11), 1)
        check("fstat size after pwrite", os.fstat(fd).st_size, 12)
        check("read back via second fd", os.pread(fd2, 64, 0), b"hello world!")
        os.close(fd2)
        check("pread after closing the other fd", os.pread(fd, 5, 6), b"world")
        # The name is free again: a new file of the same name is a different file.
        fd3 = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd3, b"new")
        check("old fd unaffected by new file of the same name", os.pread(fd, 64, 0), b"hello world!")
        os.close(fd3)
    finally:
        os.close(fd)
    check("new file content", open(path, "rb").read(), b"new")
    os.unlink(path)
    # The last unlink changes the inode: its ctime moves, seen through a descriptor still open.
    open(path, "wb").close()
    fd = os.open(path, os.O_RDWR)
    try:
        before = os.fstat(fd).st_ctime_ns
        time.sleep(0.02)
        os.unlink(path)
        check("ctime moved by the last unlink of an open file", os.fstat(fd).st_ctime_ns > before, True)
    finally:
        os.close(fd)
    return "OK"


@command("rename-over-open", 2, "SRC DST   open DST, rename SRC over it: the fd keeps the old content")
@scenario
def c_rename_over_open(src, dst):
    with open(src, "wb") as f:
        f.write(b"source data")
    with open(dst, "wb") as f:
        f.write(b"old destination")
    old_ino = os.stat(dst).st_ino
    src_ino = os.stat(src).st_ino
    fd = os.open(dst, os.O_RDWR)
    try:
        os.rename(src, dst)
        check("src exists after rename", os.path.lexists(src), False)
        check("fd content after rename over it", os.pread(fd, 64, 0), b"old destination")
        check("fstat ino of the open fd", os.fstat(fd).st_ino, old_ino)
        check("fstat nlink of the replaced file", os.fstat(fd).st_nlink, 0)
        check("ino now at dst", os.stat(dst).st_ino, src_ino)
        check("content now at dst", open(dst, "rb").read(), b"source data")
        os.pwrite(fd, b"D", 0)
        check("write via old fd does not reach the new file", open(dst, "rb").read(), b"source data")
        check("write via old fd visible through it", os.pread(fd, 64, 0), b"Dld destination")
    finally:
        os.close(fd)
    return "OK"


@command("randio", 4, "PATH SEED OPS SIZE   random pwrites/preads against an in-memory model")
@scenario
def c_randio(path, seed, ops, size):
    import random
    rnd = random.Random(int(seed))
    size = int(size)
    model = bytearray()
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for i in range(int(ops)):
            off = rnd.randrange(size)
            if rnd.random() < 0.7:
                n = rnd.choice((1, 7, 512, 4095, 4096, 4097, 65536, 131073))
                data = bytes(rnd.getrandbits(8) for _ in range(min(n, 64))) * (n // 64 + 1)
                data = data[:n]
                check("pwrite #%d at %d length" % (i, off), os.pwrite(fd, data, off), n)
                if off > len(model):
                    model.extend(b"\0" * (off - len(model)))
                model[off:off + n] = data
            else:
                n = rnd.choice((1, 100, 4096, 70000))
                got = os.pread(fd, n, off)
                want = bytes(model[off:off + n])
                if got != want:
                    first = next((k for k in range(min(len(got), len(want))) if got[k] != want[k]),
                                 min(len(got), len(want)))
                    raise Check("pread #%d (%d bytes at %d): %d bytes returned, %d expected, first "
                                "difference at offset %d" % (i, n, off, len(got), len(want), off + first))
            check("fstat size after op #%d" % i, os.fstat(fd).st_size, len(model))
    finally:
        os.close(fd)
    with open(path, "rb") as f:
        whole = f.read()
    if whole != bytes(model):
        first = next((k for k in range(min(len(whole), len(model))) if whole[k] != model[k]),
                     min(len(whole), len(model)))
        raise Check("final content after reopen: sizes %d (expected %d), first difference at %d"
                    % (len(whole), len(model), first))
    return "OK"


@command("append", 1, "PATH   O_APPEND writes land at EOF even after lseek, across two fds")
@scenario
def c_append(path):
    with open(path, "wb") as f:
        f.write(b"0123")
    a = os.open(path, os.O_WRONLY | os.O_APPEND)
    b = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.lseek(a, 0, os.SEEK_SET)
        os.write(a, b"AA")
        check("file after first append", open(path, "rb").read(), b"0123AA")
        os.write(b, b"BBB")
        check("file after append via second fd", open(path, "rb").read(), b"0123AABBB")
        check("offset of first fd after its write", os.lseek(a, 0, os.SEEK_CUR), 6)
        os.write(a, b"C")
        check("file after second append via first fd", open(path, "rb").read(), b"0123AABBBC")
        check("offset of first fd follows EOF", os.lseek(a, 0, os.SEEK_CUR), 10)
    finally:
        os.close(a)
        os.close(b)
    return "OK"


@command("ftruncate-io", 1, "PATH   ftruncate grow/shrink on an open fd, with writes between")
@scenario
def c_ftruncate_io(path):
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, b"abcdefghij")
        os.ftruncate(fd, 4)
        check("size after shrink to 4", os.fstat(fd).st_size, 4)
        check("content after shrink", os.pread(fd, 100, 0), b"abcd")
        os.ftruncate(fd, 8192)
        check("size after grow to 8192", os.fstat(fd).st_size, 8192)
        check("grown region reads as zeros", os.pread(fd, 8192, 0), b"abcd" + b"\0" * 8188)
        os.pwrite(fd, b"XY", 4)
        check("write into grown region", os.pread(fd, 8, 0), b"abcdXY\0\0")
        os.ftruncate(fd, 5)
        os.ftruncate(fd, 7)
        check("shrink then grow discards old bytes", os.pread(fd, 100, 0), b"abcdX\0\0")
        check("file offset unchanged by ftruncate (write lands at old offset)",
              os.lseek(fd, 0, os.SEEK_CUR), 10)
        os.write(fd, b"Z")
        check("write at offset beyond EOF zero-fills", os.pread(fd, 100, 0), b"abcdX\0\0\0\0\0Z")
        os.ftruncate(fd, 0)
        check("size after ftruncate 0", os.fstat(fd).st_size, 0)
        check("read after ftruncate 0", os.pread(fd, 10, 0), b"")
    finally:
        os.close(fd)
    return "OK"


@command("two-fds", 1, "PATH   data written through one fd is read through another at once")
@scenario
def c_two_fds(path):
    w = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    r = os.open(path, os.O_RDONLY)
    try:
        os.write(w, b"first")
        check("read via second fd", os.read(r, 100), b"first")
        os.write(w, b"+second")
        check("read continues at its own offset", os.read(r, 100), b"+second")
        check("read at EOF returns nothing", os.read(r, 100), b"")
        os.pwrite(w, b"F", 0)
        check("overwrite visible via other fd", os.pread(r, 5, 0), b"First")
    finally:
        os.close(w)
        os.close(r)
    return "OK"


def run_command(name, args):
    """Runs one command; returns (exit status, output line or None)."""
    if name not in COMMANDS:
        print("posixhelper: unknown command %r (try: help)" % name, file=sys.stderr)
        return 2, None
    fn, nargs, help_text = COMMANDS[name]
    lo, hi = (nargs, nargs) if isinstance(nargs, int) else nargs
    if not lo <= len(args) <= hi:
        print("usage: posixhelper.py %s %s" % (name, help_text), file=sys.stderr)
        return 2, None
    try:
        out = fn(*args)
    except Usage as e:
        print("posixhelper: %s" % e, file=sys.stderr)
        return 2, None
    except OSError as e:
        out = ename(e)
    return 0, out


def serve():
    """Server mode (lib.sh keeps one per category and user): reads requests
    "ID US CWD US UMASK US CMD US ARG..." (US = \\x1f), one per line on stdin, and answers each
    with one line "ID US OUTPUT" on stdout. Saves the python start-up (~40 ms) per call."""
    inp = sys.stdin.buffer
    while True:
        line = inp.readline()
        if not line:
            return 0
        fields = os.fsdecode(line.rstrip(b"\n")).split("\x1f")
        try:
            if len(fields) < 4:
                raise Usage("bad request %r" % fields)
            # chdir every time: the directory may have been replaced under the same name
            os.chdir(fields[1])
            os.umask(int(fields[2], 8))
            rc, out = run_command(fields[3], fields[4:])
            if out is None:
                out = "ERROR: usage error (exit status %d) for %s" % (rc, " ".join(fields[3:]))
        except Exception as e:  # one line per request, whatever happens
            out = "ERROR: %s: %s" % (type(e).__name__, e)
        sys.stdout.write(fields[0] + "\x1f" + str(out).replace("\n", " | ") + "\n")
        sys.stdout.flush()


def main(argv):
    if len(argv) < 2 or argv[1] in ("help", "-h", "--help"):
        for name in sorted(COMMANDS):
            print("%-18s %s" % (name, COMMANDS[name][2]))
        return 0 if len(argv) >= 2 else 2
    if argv[1] == "serve":
        return serve()
    rc, out = run_command(argv[1], argv[2:])
    if out is not None:
        print(out)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
