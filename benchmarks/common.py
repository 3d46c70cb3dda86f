"""Timing, machine description and the result table shared by the workloads."""

from __future__ import annotations

import contextlib
import datetime
import gc
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


def median(xs: list[float]) -> float:
    return float(np.median(xs))


def mean(xs: list[float]) -> float:
    return float(np.mean(xs))


_WORKER = """
import json, sys, time
import benchmarks
from benchmarks.{module} import {function} as make
step = make(*json.loads(sys.argv[1]))
if not callable(step):  # None: a peer is not installed; a string: why it cannot run
    print(json.dumps({{"unavailable": step}}), flush=True)
    sys.exit(0)
for _ in range(int(sys.argv[2])):
    step()
print(json.dumps({{"ready": getattr(step, "info", None)}}), flush=True)
clock = time.perf_counter
for line in sys.stdin:
    n, warm = map(int, line.split())
    for _ in range(warm):  # caches and branch predictors are cold after another's turn
        step()
    times = []
    for _ in range(n):
        t = clock()
        step()
        times.append(clock() - t)
    print(json.dumps(times), flush=True)
"""


class Worker:
    """One implementation of a workload, built in a fresh interpreter that waits for orders.

    ``benchmarks.<module>.<function>(*args)`` makes the step there (a callable; None when
    a peer is missing; a string saying why it cannot run) and runs ``warmup`` steps; then
    each :meth:`time` times ``n`` steps. A fresh interpreter per implementation gives
    each a clean heap: CPython schedules full collections, and glibc returns memory to
    the system, from what happened earlier in the process, so a library measured after
    another in the same process would inherit that history. The interpreter starts at
    once; :meth:`ready` waits until the step is built.
    """

    def __init__(self, module: str, function: str, args: tuple, warmup: int = 1) -> None:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
        self.name = f"{module}.{function}{args}"
        self.available = False
        self.info: Any = None
        self.unavailable: str | None = None  # why it cannot run (None: a peer is missing)
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed by close())
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WORKER.format(module=module, function=function),
                json.dumps(args),
                str(warmup),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=env,
        )

    def ready(self) -> bool:
        """Wait for the step to be built; False (and the worker closed) if it cannot run."""
        first = self._read()
        self.available = "ready" in first
        self.info = first.get("ready")
        self.unavailable = first.get("unavailable")
        if not self.available:
            self.close()
        return self.available

    def _read(self) -> Any:
        line = self._proc.stdout.readline() if self._proc.stdout else ""
        if not line:
            self._proc.wait()
            self._stderr.seek(0)
            raise RuntimeError(f"benchmark worker {self.name} failed:\n{self._stderr.read()}")
        return json.loads(line)

    def time(self, n: int, warmup: int = 0) -> list[float]:
        """Seconds taken by each of ``n`` more steps, after ``warmup`` untimed ones."""
        assert self._proc.stdin is not None
        self._proc.stdin.write(f"{n} {warmup}\n")
        self._proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self._proc.poll() is None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()  # type: ignore[union-attr]
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._stderr.close()


def faults_per_step(step: Callable[[], Any], n: int = 20) -> float:
    """Minor page faults per call of ``step``, over ``n`` calls (nan without ``resource``).

    Some processes fault the same pages in every step (glibc trims its heap when a step
    frees a large array and grows it again on the next), which can double a small step;
    see docs/performance.md, "The allocator can double a small step".
    """
    try:
        import resource
    except ImportError:
        return float("nan")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(n):
        step()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / n


def faults_note(faults: dict[str, float], least: float = 10) -> str:
    """Which sides faulted at least ``least`` pages per step (empty when none did)."""
    bad = {k: v for k, v in faults.items() if v >= least}
    if not bad:
        return ""
    return (
        "page faults per step: "
        + ", ".join(f"{k} {v:.0f}" for k, v in bad.items())
        + " (heap trimming: docs/performance.md, the allocator can double a small step)"
    )


@dataclass
class Job:
    """One implementation to time: ``benchmarks.<module>.<function>(*args)`` makes its step;
    each turn times ``block`` steps after ``block_warmup`` untimed ones."""

    module: str
    function: str
    args: tuple
    block: int
    warmup: int = 1
    block_warmup: int = 0


@dataclass
class Interleaved:
    """What :func:`interleaved` measured, by job key, and what could not run and why."""

    blocks: dict[Any, list[list[float]]]  # per turn, seconds per step
    info: dict[Any, Any]  # what each step function reported about itself (e.g. node counts)
    unavailable: dict[Any, str | None]  # None: a peer that is not installed

    @property
    def times(self) -> dict[Any, list[float]]:
        """Every timed step of each job."""
        return {k: [t for b in v for t in b] for k, v in self.blocks.items()}

    def block_medians(self, key: Any, stat: Callable[[list[float]], float] = median) -> list:
        return [stat(b) for b in self.blocks[key]]

    def best_turn(self, key: Any, stat: Callable[[list[float]], float] = median) -> float:
        """The median (or ``stat``) step of the job's fastest turn.

        The virtual machines this runs on slow down for seconds at a time, and often: a
        numpy step goes from about 60 to 110 us and back, the other libraries slow by
        other factors, and a run can spend most of its turns in such spells. A turn in
        one measures the neighbours, not the code; as with ``timeit``, the fastest turn
        is the closest to the code's own cost. (Within a turn the median is kept, so
        costs that recur every few steps are counted.)
        """
        return min(self.block_medians(key, stat))


def interleaved(jobs: dict[Any, Job], turns: int, spread: float = 0.0) -> Interleaved:
    """Per-step times of every job, each in its own :class:`Worker`, the jobs taking turns.

    All workers are started first (in parallel); then ``turns`` times, every job in turn
    times one block of steps. Turns are spaced out over at least ``spread`` seconds:
    every job then meets the machine in each of its moods (see
    :meth:`Interleaved.best_turn`), and the sides of a comparison meet them alike. Every
    turn after the first starts with a few untimed steps: right after another process's
    turn the first steps run measurably slower (cold caches), which is no part of the
    step's cost.
    """
    workers = {key: Worker(j.module, j.function, j.args, j.warmup) for key, j in jobs.items()}
    result = Interleaved({}, {}, {})
    try:
        for key, w in list(workers.items()):
            if w.ready():
                result.blocks[key] = []
                if w.info is not None:
                    result.info[key] = w.info
            else:
                result.unavailable[key] = w.unavailable
                del workers[key]
        start = time.perf_counter()
        for turn in range(turns):
            for key, w in workers.items():
                j = jobs[key]
                result.blocks[key].append(w.time(j.block, j.block_warmup if turn else 0))
            pause = start + spread * (turn + 1) / turns - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
    finally:
        for w in workers.values():
            w.close()
    return result


def peer(name: str) -> Any | None:
    """Import a peer library, or None when it is not installed."""
    try:
        if name == "micrograd":
            import micrograd.engine

            return micrograd
        if name == "autograd":
            import autograd

            return autograd
        if name == "torch":
            import torch

            torch.set_num_threads(1)
            return torch
    except ImportError:
        return None
    raise ValueError(name)


@dataclass
class Target:
    """One target of the issue, checked: ``measured`` against ``limit`` with ``op``."""

    what: str  # e.g. "autograd_lite / numpy" or "micrograd / autograd_lite"
    measured: float
    limit: float
    op: str = "<="

    @property
    def passed(self) -> bool:
        m, lim = self.measured, self.limit
        return {"<=": m <= lim, "<": m < lim, ">=": m >= lim}[self.op]

    def text(self) -> str:
        return f"{self.what} = {self.measured:.3g} (target {self.op} {self.limit:.3g})"


@dataclass
class Row:
    """One line of the table: a workload, our figure, each peer's, and the targets.

    ``ours`` is None when autograd_lite could not run the workload (``note`` says why).
    ``extra`` holds anything else worth keeping in the JSON (samples, node counts...).
    """

    workload: str
    unit: str
    ours: float | None
    peers: dict[str, float | None] = field(default_factory=dict)
    target: str = ""
    targets: list[Target] = field(default_factory=list)
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool | None:
        """True when every target is met, None when there was nothing to check."""
        return all(t.passed for t in self.targets) if self.targets else None

    def as_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["passed"] = self.passed
        for t, td in zip(self.targets, d["targets"]):
            td["passed"] = t.passed
        return d


def _proc_stat() -> tuple[int, int]:
    """(all jiffies, idle jiffies) since boot, summed over cores, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return sum(fields), fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait


def cpu_busy(seconds: float = 1.0) -> float:
    """Share of all cores busy over the next ``seconds`` (nan where /proc is unavailable)."""
    try:
        total0, idle0 = _proc_stat()
        time.sleep(seconds)
        total1, idle1 = _proc_stat()
    except (OSError, ValueError, IndexError):
        return float("nan")
    total = total1 - total0
    return 1.0 - (idle1 - idle0) / total if total else float("nan")


class OtherLoad:
    """How busy the machine was with *other* processes while the benchmarks ran.

    Other processes (a test suite, a build) slow every timed figure, so the share of all
    cores they used during the run is printed as a warning with the results: the CPU time
    of the whole machine (/proc/stat) minus this process's and its workers' (os.times).
    """

    def __init__(self) -> None:
        self._start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float] | None:
        try:
            total, idle = _proc_stat()
        except (OSError, ValueError, IndexError):
            return None
        t = os.times()
        hz = os.sysconf("SC_CLK_TCK")
        ours = t.user + t.system + t.children_user + t.children_system
        return total / hz, (total - idle) / hz, ours

    def share(self) -> float:
        """Share of all cores used by other processes since this object was made."""
        end = self._sample()
        if self._start is None or end is None or end[0] <= self._start[0]:
            return float("nan")
        busy = (end[1] - self._start[1]) - (end[2] - self._start[2])
        return max(0.0, busy / (end[0] - self._start[0]))


def machine() -> dict[str, Any]:
    """What the numbers were taken on: CPU, cores, Python, numpy, BLAS, peers, commit."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "cpu": cpu,
        "cores": os.cpu_count(),
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "gc_threshold": gc.get_threshold(),
    }
    # set on some processors in this environment (older OpenBLAS builds need them); left as
    # they are, but they change which kernel runs, so they belong with the numbers
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if os.environ.get(var):
            info[var] = os.environ[var]
    try:
        from threadpoolctl import threadpool_info

        blas = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        if blas:
            b = blas[0]
            info["blas"] = (
                f"{b.get('internal_api')} {b.get('version')} "
                f"(kernel {b.get('architecture')}, {b.get('num_threads')} thread)"
            )
    except ImportError:
        info["blas"] = "unknown (pip install threadpoolctl to show it)"
    here = os.path.dirname(os.path.abspath(__file__))
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        git = ["git", "-C", here]
        head = subprocess.run(
            [*git, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        info["commit"] = head + (" (with uncommitted changes)" if dirty else "")
    for lib in ("micrograd", "autograd", "torch"):
        # from the package metadata: importing torch here would put its objects on the heap
        # that every later garbage collection walks, slowing the scalar workloads
        try:
            info[lib] = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            info[lib] = "not installed"
    return info


def header(info: dict[str, Any]) -> str:
    """The machine, as the lines above the table."""
    lines = [
        f"autograd_lite benchmarks, {info['date']}, commit {info.get('commit', 'unknown')}",
        f"cpu: {info['cpu']}, {info['cores']} cores; {info['platform']}",
        f"python {info['python']}, numpy {info['numpy']}, BLAS {info.get('blas', 'unknown')}, "
        f"OPENBLAS/OMP/MKL_NUM_THREADS={info['blas_threads']}"
        + "".join(
            f", {v}={info[v]}" for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if v in info
        ),
        "peers: " + ", ".join(f"{lib} {info[lib]}" for lib in ("micrograd", "autograd", "torch")),
    ]
    return "\n".join(lines)


def fmt(x: float | None, unit: str) -> str:
    if x is None:
        return "-"
    if unit == "s":
        return f"{x * 1e3:.1f} ms" if x < 10 else f"{x:.1f} s"
    if unit == "us":
        return f"{x:.0f} us" if x >= 100 else f"{x:.1f} us"
    if unit == "B":
        return f"{x:,.0f} B"
    if unit == "x":
        return f"{x:.2f}x"
    return f"{x:.3g} {unit}"


def ratio_cell(v: float | None, ours: float | None, unit: str) -> str:
    if v is None:
        return "-"
    if ours and unit in ("s", "us", "B"):
        return f"{fmt(v, unit)} ({v / ours:.2f}x)"
    return fmt(v, unit)


def table(rows: list[Row], peers: list[str]) -> str:
    """Aligned plain-text table; after a peer's figure, (peer / autograd_lite) in brackets."""
    head = ["workload", "autograd_lite", *peers, "target", ""]
    lines = [head]
    for r in rows:
        cells = [r.workload, fmt(r.ours, r.unit)]
        cells += [ratio_cell(r.peers.get(p), r.ours, r.unit) for p in peers]
        cells.append(r.target)
        cells.append("" if r.passed is None else ("PASS" if r.passed else "MISS"))
        lines.append(cells)
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    out = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)
