"""atomic_write: each guarantee of its docstring, one test (or more) apiece."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap

import pytest

import autograd_lite
from autograd_lite import files
from autograd_lite.files import TMP_SUFFIX, atomic_write

posix = pytest.mark.skipif(os.name != "posix", reason="POSIX files, modes and signals")


def writer(data: bytes):
    return lambda f: f.write(data)


def temps(folder) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.endswith(TMP_SUFFIX))


def test_writes_a_new_file_and_returns_the_path(tmp_path):
    path = tmp_path / "out.bin"
    assert atomic_write(path, writer(b"hello"), who="t") == str(path)
    assert path.read_bytes() == b"hello"
    assert os.listdir(tmp_path) == ["out.bin"]


# 1. not a regular file ------------------------------------------------------------


def test_a_directory_is_refused_and_left_alone(tmp_path):
    target = tmp_path / "folder"
    target.mkdir()
    (target / "inside").write_bytes(b"keep")
    with pytest.raises(IsADirectoryError) as info:
        atomic_write(target, writer(b"x"), who="save_graph")
    assert str(info.value).startswith("save_graph:") and str(target) in str(info.value)
    assert target.is_dir() and (target / "inside").read_bytes() == b"keep"
    assert sorted(os.listdir(tmp_path)) == ["folder"]


@posix
def test_a_fifo_is_refused_without_opening_it(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises((ValueError, OSError)) as info:  # returns at once: never opened
        atomic_write(fifo, writer(b"x"), who="save")
    assert str(info.value).startswith("save:") and str(fifo) in str(info.value)
    assert "FIFO" in str(info.value)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert os.listdir(tmp_path) == ["pipe"]


# 2. symlinks ----------------------------------------------------------------------


@posix
def test_a_symlink_is_written_through_and_stays_a_link(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "data.bin"
    target.write_bytes(b"old")
    link = tmp_path / "link.bin"
    link.symlink_to(os.path.join("real", "data.bin"))  # relative, as links often are
    atomic_write(link, writer(b"new"), who="t")
    assert link.is_symlink() and os.readlink(link) == os.path.join("real", "data.bin")
    assert link.read_bytes() == b"new" and target.read_bytes() == b"new"
    assert os.listdir(tmp_path / "real") == ["data.bin"]


@posix
def test_a_dangling_symlink_creates_its_target_as_open_would(tmp_path):
    link_open, link_ours = tmp_path / "a", tmp_path / "b"
    link_open.symlink_to(tmp_path / "made-by-open")
    link_ours.symlink_to(tmp_path / "made-by-us")
    with open(link_open, "wb") as f:  # what open() does: creates the target
        f.write(b"x")
    atomic_write(link_ours, writer(b"x"), who="t")
    for link, made in ((link_open, "made-by-open"), (link_ours, "made-by-us")):
        assert link.is_symlink() and (tmp_path / made).read_bytes() == b"x"
    # into a missing folder: FileNotFoundError from both
    gone = tmp_path / "gone"
    gone.symlink_to(tmp_path / "nowhere" / "file")
    with pytest.raises(FileNotFoundError), open(gone, "wb"):
        pass
    with pytest.raises(FileNotFoundError, match=r"^t: no such folder"):
        atomic_write(gone, writer(b"x"), who="t")


# 3. read-only files ---------------------------------------------------------------


def _read_only_case(folder: str) -> tuple[str, str]:
    """In ``folder`` (writable by us): a read-only file. What do open() and we do?"""
    path = os.path.join(folder, "ro.bin")
    with open(path, "wb") as f:
        f.write(b"keep")
    os.chmod(path, 0o444)
    try:
        with open(path, "ab"):  # "ab": checks write permission without truncating
            expected = "wrote"
    except PermissionError:
        expected = "PermissionError"
    try:
        atomic_write(path, writer(b"new"), who="t")
        got = "wrote"
    except PermissionError as e:
        got = "PermissionError" if str(e).startswith("t: ") and path in str(e) else repr(e)
    with open(path, "rb") as f:
        content = f.read()
    if got == "PermissionError" and content != b"keep":
        got = "PermissionError, but the file changed"
    return expected, got


@posix
def test_a_read_only_file_is_refused_as_open_would(tmp_path):
    expected, got = _read_only_case(str(tmp_path))
    assert got == expected
    if os.geteuid() != 0:
        assert got == "PermissionError"


@posix
@pytest.mark.skipif(not hasattr(os, "fork") or os.geteuid() != 0, reason="needs root to setuid")
def test_a_read_only_file_is_refused_for_an_unprivileged_user():
    """As root every file is writable; so drop to nobody (uid 65534) in a child process."""
    folder = tempfile.mkdtemp(prefix="atomic-ro-")
    try:
        os.chmod(folder, 0o777)  # the folder is writable, so a rename *would* succeed
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            result = "child failed"
            try:
                os.setgid(65534)
                os.setuid(65534)
                result = "|".join(_read_only_case(folder))
            except BaseException as e:
                result = f"child failed: {e!r}"
            finally:
                os.write(write, result.encode())
                os._exit(0)
        os.close(write)
        with os.fdopen(read, "rb") as f:
            result = f.read().decode()
        os.waitpid(pid, 0)
        assert result == "PermissionError|PermissionError"
    finally:
        shutil.rmtree(folder)


# 4. permission bits ---------------------------------------------------------------


@posix
def test_an_existing_file_keeps_its_mode(tmp_path):
    path = tmp_path / "secret.bin"
    path.write_bytes(b"old")
    os.chmod(path, 0o600)
    old = os.umask(0o022)
    try:
        atomic_write(path, writer(b"new"), who="t")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and path.read_bytes() == b"new"
    os.chmod(path, 0o751)
    atomic_write(path, writer(b"newer"), who="t")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o751


@posix
@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_a_new_file_gets_the_mode_open_would_give(tmp_path, umask):
    old = os.umask(umask)
    try:
        with open(tmp_path / "by-open", "wb"):
            pass
        atomic_write(tmp_path / "ours", writer(b"x"), who="t")
    finally:
        os.umask(old)
    mode = stat.S_IMODE(os.stat(tmp_path / "ours").st_mode)
    assert mode == 0o666 & ~umask == stat.S_IMODE(os.stat(tmp_path / "by-open").st_mode)


# 5. no debris ---------------------------------------------------------------------


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError, OSError])
def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path, error):
    path = tmp_path / "w.bin"
    path.write_bytes(b"good")

    def fail(f):
        f.write(b"half")
        raise error("stop")

    with pytest.raises(error):
        atomic_write(path, fail, who="t")
    assert path.read_bytes() == b"good" and os.listdir(tmp_path) == ["w.bin"]


def test_the_temp_file_is_named_as_documented(tmp_path):
    seen = []
    atomic_write(tmp_path / "x.npz", lambda f: seen.extend(os.listdir(tmp_path)), who="t")
    (name,) = seen
    base, pid, rand = name[: -len(TMP_SUFFIX)].rsplit(".", 2)
    assert name.endswith(".autograd-lite-tmp") and base == ".x.npz"
    assert pid == str(os.getpid()) and len(rand) >= 8


@posix
def test_a_save_killed_by_sigterm_is_cleaned_up_by_the_next_save(tmp_path):
    code = textwrap.dedent(
        """
        import sys, time
        from autograd_lite.files import atomic_write

        def slow(f):
            f.write(b"partial")
            f.flush()
            print("writing", flush=True)
            time.sleep(60)

        atomic_write(sys.argv[1], slow, who="t")
        """
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(autograd_lite.__file__)))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    (tmp_path / "model.npz").write_bytes(b"good")
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path / "model.npz")],
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        assert child.stdout.readline() == b"writing\n"
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=30)
        child.stdout.close()
    assert child.returncode == -signal.SIGTERM
    (left,) = temps(tmp_path)  # the killed save left its temp file behind...
    assert left.startswith(f".model.npz.{child.pid}.")
    assert (tmp_path / "model.npz").read_bytes() == b"good"

    mine = f".other.{os.getpid()}.abcdef{TMP_SUFFIX}"  # a live writer's (ours): kept
    (tmp_path / mine).write_bytes(b"")
    (tmp_path / ".notes.txt").write_bytes(b"")  # not ours: kept
    atomic_write(tmp_path / "other.npz", writer(b"x"), who="t")  # ...the next save removes it
    assert temps(tmp_path) == [mine]
    assert sorted(os.listdir(tmp_path)) == sorted([".notes.txt", mine, "model.npz", "other.npz"])


@posix
def test_only_our_temps_of_dead_processes_are_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "_pid_running", lambda pid: pid != 999_999)
    dead = f".a.999999.0123abcd{TMP_SUFFIX}"
    keep = [
        f".a.1234.0123abcd{TMP_SUFFIX}",  # a running pid
        ".a.999999.0123abcd.tmp",  # not our suffix
        f"a.999999.0123abcd{TMP_SUFFIX}",  # not hidden: not a name we make
        f".a.99x999.0123abcd{TMP_SUFFIX}",  # not a pid
        f".a.999999.nothex{TMP_SUFFIX}",  # not our random part
    ]
    for name in [dead, *keep]:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / f".d.999999.0123abcd{TMP_SUFFIX}").mkdir()  # a folder: not a temp file
    keep.append(f".d.999999.0123abcd{TMP_SUFFIX}")
    atomic_write(tmp_path / "new", writer(b"x"), who="t")
    assert sorted(os.listdir(tmp_path)) == sorted([*keep, "new"])


# 6. fsync -------------------------------------------------------------------------


@posix
def test_the_file_is_fsynced_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append("fsync folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        real_fsync(fd)

    def replace(src, dst):
        events.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(files.os, "fsync", fsync)
    monkeypatch.setattr(files.os, "replace", replace)
    atomic_write(tmp_path / "x", writer(b"data"), who="t")
    assert events == ["fsync file", "rename", "fsync folder"]


def test_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"^t: no such folder"):
        atomic_write(tmp_path / "nowhere" / "x", writer(b"x"), who="t")
    assert not list(tmp_path.iterdir())


def test_bytes_paths_work_and_a_nul_in_a_name_is_named(tmp_path, monkeypatch):
    import numpy as np

    import autograd_lite as ag
    from autograd_lite import nn

    monkeypatch.chdir(tmp_path)
    y = ag.tanh(ag.Value(0.5, name="x"))
    nn.save({"w": np.ones(2)}, b"model.npz")
    ag.save_graph(y, b"g.svg")
    assert sorted(os.listdir(tmp_path)) == ["g.svg", "model.npz"]
    np.testing.assert_array_equal(nn.load(b"model.npz")["w"], np.ones(2))
    for call, who in (
        (lambda: nn.save({"w": np.ones(2)}, "a\x00b.npz"), "save"),
        (lambda: nn.load("a\x00b.npz"), "load"),
        (lambda: ag.save_graph(y, "a\x00b.svg"), "save_graph"),
    ):
        with pytest.raises(ValueError, match=f"^{who}: the file name .* holds a NUL character"):
            call()
    assert sorted(os.listdir(tmp_path)) == ["g.svg", "model.npz"]  # no debris


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_render_never_writes_its_source_into_a_fifo_a_folder_or_a_device(tmp_path, monkeypatch):
    import autograd_lite as ag

    monkeypatch.chdir(tmp_path)
    g = ag.draw_graph(ag.tanh(ag.Value(0.5, name="x")))
    os.mkfifo("graph")
    os.mkdir("adir")
    with pytest.raises(ValueError, match="render: graph is a FIFO"):
        g.render("graph")  # (it used to block forever, opening the FIFO)
    with pytest.raises(IsADirectoryError, match="render: adir is a directory"):
        g.render("adir")
    with pytest.raises(ValueError, match="render: /dev/null is a character device"):
        g.render("/dev/null")
    assert not os.path.exists("/dev/null.svg")
    assert sorted(os.listdir(tmp_path)) == ["adir", "graph"]
