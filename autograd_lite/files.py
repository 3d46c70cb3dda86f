"""Writing files all-or-nothing (used by ``nn.save`` and by saving graphs)."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Callable
from typing import BinaryIO

__all__ = ["TMP_SUFFIX", "atomic_write", "checked_name"]

TMP_SUFFIX = ".autograd-lite-tmp"

_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def atomic_write(
    path: str | os.PathLike,
    write: Callable[[BinaryIO], object],
    *,
    who: str,
    check: Callable[[str], None] | None = None,
) -> str:
    """Write a file all-or-nothing: `write(f)` fills a temporary file in the target's folder,
    which is flushed, fsync'ed, (``check(temp_path)``ed, if given: an exception there
    keeps the old file), and renamed over the target. Returns the path written.

    The path returned is ``os.fspath(path)``, as given. Guarantees:

    1. If ``path`` exists and is not a regular file, nothing is written and it is left
       untouched: a directory raises IsADirectoryError, a FIFO, device or socket raises
       ValueError (it is never opened, so a FIFO cannot block us). Every error raised
       here starts with ``"{who}: "`` and names the path.
    2. A symlink is written through: the file it points to (``os.path.realpath``) is
       replaced and the link stays a link that shows the new content. A dangling symlink
       creates the file it points to, as ``open(path, "wb")`` would (FileNotFoundError
       if that file's folder does not exist).
    3. An existing file we may not write (``os.access(..., os.W_OK)`` is false) is
       refused with PermissionError, as ``open(path, "wb")`` would, even though the
       rename would be allowed. A missing folder is FileNotFoundError.
    4. An existing file keeps its permission bits (a 0600 file stays 0600; its owner and
       group too, where we are allowed to set them); a new file gets the mode
       ``open()`` would give it, ``0o666 & ~umask``.
    5. No debris: on any exception, KeyboardInterrupt included, the temporary file is
       removed and the target is left as it was. Temporary files are named
       ``.<basename>.<pid>.<random>.autograd-lite-tmp`` in the target's folder; each
       call first removes the regular files there with that suffix whose pid is no
       longer running (on POSIX; pids are only checked on this machine, so do not share
       the folder between machines while saving), so a save killed by a signal leaves
       nothing behind after the next save into that folder.
    6. The temporary file is flushed and fsync'ed before the rename, and the folder is
       fsync'ed after it (best effort: errors there are ignored), so after a crash the
       target holds the old content or the new, never a mix.
    7. An OSError while writing, flushing, syncing or renaming (a full disk: ENOSPC) is
       re-raised as the same OSError subclass and errno, its message starting with
       ``"{who}: cannot write {path}"`` and giving the reason.
    """
    given = os.fspath(path)
    shown = checked_name(given, who)
    target = os.path.realpath(shown)  # through symlinks, as open() goes (a str: bytes too)
    try:
        st: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        st = None
        if shown.endswith(("/", os.sep)):  # "name/" names a folder, as open() says
            raise _error(
                IsADirectoryError, errno.EISDIR, f"{who}: {shown} names a folder"
            ) from None
    except OSError as e:  # a symlink loop, a path through a file, ...
        raise _error(type(e), e.errno, f"{who}: cannot write {shown} ({e.strerror})") from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise _error(
                IsADirectoryError, errno.EISDIR, f"{who}: {shown} is a directory, not a file"
            )
        if not stat.S_ISREG(st.st_mode):
            kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
            raise ValueError(f"{who}: {shown} is {kind}; refusing to replace it with a file")
        if not _writable(target):
            raise _error(
                PermissionError,
                errno.EACCES,
                f"{who}: {shown} is read-only for us (permission denied); not replacing it",
            )
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise _error(FileNotFoundError, errno.ENOENT, f"{who}: no such folder: {folder}")
    _remove_stale_temps(folder)

    base = os.path.basename(target)
    tmp = os.path.join(folder, f".{base}.{os.getpid()}.{secrets.token_hex(6)}{TMP_SUFFIX}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    opening = True
    try:
        fd = os.open(tmp, flags, 0o666)  # 0o666 & ~umask, as open() would create it
        opening = False
        with os.fdopen(fd, "wb") as f:
            if st is not None:
                _copy_mode(f.fileno(), tmp, st)
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if check is not None:
            check(tmp)
        os.replace(tmp, target)
    except BaseException as e:
        if not (opening and isinstance(e, FileExistsError)):  # never someone else's file
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if opening and isinstance(e, OSError):
            raise _error(
                type(e),
                e.errno,
                f"{who}: cannot create a temporary file in {folder} to write {shown} "
                f"({e.strerror})",
            ) from None
        if isinstance(e, OSError) and not str(e).startswith(f"{who}: "):
            reason = e.strerror or str(e) or type(e).__name__
            raise _error(type(e), e.errno, f"{who}: cannot write {shown} ({reason})") from None
        raise
    _fsync_folder(folder)
    return given


def _error(cls: type[OSError], code: int | None, message: str) -> OSError:
    e = cls(message)
    e.errno = code
    return e


def _writable(target: str) -> bool:
    if os.access in os.supports_effective_ids:
        return os.access(target, os.W_OK, effective_ids=True)
    return os.access(target, os.W_OK)


def _copy_mode(fd: int, tmp: str, st: os.stat_result) -> None:
    if hasattr(os, "fchown") and (st.st_uid, st.st_gid) != _owner(fd):
        with contextlib.suppress(OSError):  # only root may give a file away
            os.fchown(fd, st.st_uid, st.st_gid)
    if hasattr(os, "fchmod"):
        os.fchmod(fd, stat.S_IMODE(st.st_mode))
    else:  # pragma: no cover - Windows
        os.chmod(tmp, stat.S_IMODE(st.st_mode))


def _owner(fd: int) -> tuple[int, int]:
    st = os.fstat(fd)
    return st.st_uid, st.st_gid


def _fsync_folder(folder: str) -> None:
    if not hasattr(os, "O_DIRECTORY"):  # pragma: no cover - Windows cannot open a folder
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _pid_running(pid: int) -> bool:
    if os.name != "posix":  # pragma: no cover - os.kill(pid, 0) would signal on Windows
        return True
    if pid <= 0:
        return True  # not a pid we wrote; leave the file alone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it runs, as someone else
        return True
    return True


def checked_name(path: str | bytes, who: str) -> str:
    """``path`` (from ``os.fspath``) as text, refusing an empty name and a NUL character
    (which the system cannot take: ``open`` says only "embedded null byte")."""
    shown = os.fsdecode(path)
    if not shown:
        raise FileNotFoundError(f"{who}: no file name given")
    if "\x00" in shown:
        raise ValueError(f"{who}: the file name {shown!r} holds a NUL character")
    return shown


def _is_number(text: str, digits: str) -> bool:
    return bool(text) and all(c in digits for c in text)


def _remove_stale_temps(folder: str) -> None:
    """Remove our temporary files in ``folder`` whose writer no longer runs."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if not (name.startswith(".") and name.endswith(TMP_SUFFIX)):
            continue
        parts = name[: -len(TMP_SUFFIX)].rsplit(".", 2)
        if len(parts) != 3 or not _is_number(parts[1], "0123456789"):
            continue
        if not _is_number(parts[2], "0123456789abcdef"):
            continue
        pid = int(parts[1])
        if pid == os.getpid() or _pid_running(pid):
            continue
        full = os.path.join(folder, name)
        with contextlib.suppress(OSError):
            if stat.S_ISREG(os.lstat(full).st_mode):
                os.unlink(full)
