"""A small round-robin timing harness shared by the benchmark scripts.

Why round-robin: this machine is shared (2 cores, other jobs running). Timing
contender A for a minute and then contender B lets a burst of outside load
land on one of them only. Here every round runs each contender once, in an
order that rotates from round to round, so noise hits all of them alike; the
median over rounds then discards the bursts.

Use it in this order, because BLAS reads its thread count once, when numpy
loads:

    from _harness import pin_threads
    THREADS = pin_threads()      # reads --threads N from sys.argv, sets the env
    import numpy as np           # only now
    import _harness as H
"""
from __future__ import annotations

import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
_threads = None  # the pinned count, once pin_threads ran


# ------------------------------------------------------------------ threads
def pin_threads(default: int = 1) -> int:
    """Pin BLAS/OpenMP threads to ``--threads N`` (default 1) from sys.argv.

    Must run before numpy (or torch) is imported: OpenBLAS and MKL size their
    thread pools from these variables at load time. With two threads and one
    core busy elsewhere, runs become up to 3x slower, so 1 is the default.
    The option is removed from sys.argv so the script's own parser never sees it.
    """
    global _threads
    if _threads is not None:  # already pinned (a script importing another script)
        return _threads
    n = default
    argv = sys.argv
    for i, arg in enumerate(list(argv)):
        if arg == "--threads" and i + 1 < len(argv):
            n = int(argv[i + 1])
            del argv[i:i + 2]
            break
        if arg.startswith("--threads="):
            n = int(arg.split("=", 1)[1])
            del argv[i]
            break
    if n < 1:
        raise SystemExit(f"--threads must be >= 1, got {n}")
    if "numpy" in sys.modules:
        print("warning: numpy was imported before pin_threads(); the BLAS thread "
              "count may not be pinned", file=sys.stderr)
    for var in _THREAD_VARS:
        os.environ[var] = str(n)
    _threads = n
    return n


def limit_loaded_pools() -> None:
    """Also cap the thread pools already loaded, through threadpoolctl when it
    is installed (a belt to the environment variables' braces: it also catches
    a pool that was loaded before pin_threads ran). Call after numpy/torch load."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(_threads or 1)


def thread_pools() -> list:
    """The loaded BLAS/OpenMP pools and their thread counts (threadpoolctl), or
    an empty list when threadpoolctl is not installed."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return [{k: p.get(k) for k in ("internal_api", "num_threads", "version")}
            for p in threadpool_info()]


def import_torch():
    """torch if it imports (pinned to the same thread count), else None.

    torch is only ever a point of comparison, never a dependency of minigrad.
    """
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(_threads or 1)
    return torch


# ------------------------------------------------------------------ timing
class Timings:
    """Seconds per call of each contender, one sample per round, by two clocks.

    ``wall`` (perf_counter) is what a user waits. ``cpu`` (process_time) counts
    only the time this process ran: on a shared machine, when other jobs take
    the cores, wall time includes waiting for a core while CPU time does not,
    so CPU time is the steadier estimate of the work itself. (With more than
    one BLAS thread CPU time adds up all threads: compare it at --threads 1.)"""

    def __init__(self, names):
        self.wall = {name: [] for name in names}
        self.cpu = {name: [] for name in names}


def round_robin(contenders: dict, rounds: int, warmup: int = 3) -> Timings:
    """Time each callable in ``contenders`` (name -> fn()) once per round.

    The order rotates each round so that no contender always runs right after
    the garbage collector or right after a particular other contender. Garbage
    from earlier rounds is collected before each round, outside the timed
    region; collections that the contender itself triggers stay inside, since
    users pay them too.

    A contender may also be a dict of stages (stage -> fn), run in that order
    within its turn, e.g. forward then backward: each stage is timed on its own
    (samples under "name/stage") and their sum is the contender's time.
    """
    names = list(contenders)
    stages = {name: (list(fn.items()) if isinstance(fn, dict) else [(None, fn)])
              for name, fn in contenders.items()}
    for _ in range(warmup):
        for name in names:
            for _, fn in stages[name]:
                fn()
    t = Timings(names + [f"{name}/{stage}" for name in names for stage, _ in stages[name]
                         if stage is not None])
    wall, cpu = time.perf_counter, time.process_time
    for r in range(rounds):
        gc.collect()
        k = r % len(names)
        for name in names[k:] + names[:k]:
            total_w = total_c = 0.0
            for stage, fn in stages[name]:
                c0, w0 = cpu(), wall()
                fn()
                w1, c1 = wall(), cpu()
                total_w += w1 - w0
                total_c += c1 - c0
                if stage is not None:
                    t.wall[f"{name}/{stage}"].append(w1 - w0)
                    t.cpu[f"{name}/{stage}"].append(c1 - c0)
            t.wall[name].append(total_w)
            t.cpu[name].append(total_c)
    return t


def paired_ratio(times: dict, a: str, b: str) -> float:
    """Median over rounds of time(a) / time(b) within the same round.

    Both ran back to back under the same outside load, so this ratio is
    steadier than the ratio of the two medians when the load comes and goes."""
    return statistics.median(ta / tb for ta, tb in zip(times[a], times[b]))


def time_once(fn):
    """(seconds, result) of one call of ``fn``."""
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def median(xs):
    return statistics.median(xs)


def summarize(samples: list) -> dict:
    """Median and spread of a list of seconds (the spread shows how noisy it was)."""
    xs = sorted(samples)
    q = lambda p: xs[min(len(xs) - 1, int(p * len(xs)))]  # noqa: E731
    return {"median": statistics.median(xs), "min": xs[0], "p25": q(0.25), "p75": q(0.75),
            "n": len(xs)}


# ------------------------------------------------------------------ memory
def peak_rss_mib() -> float:
    """This process's peak resident set size so far, in MiB.

    Linux: VmHWM from /proc/self/status. Not getrusage's ru_maxrss there: across
    fork + exec Linux carries the parent's high-water mark into the child, so a
    child started by a parent holding 300 MiB (torch) would report >= 300 MiB
    whatever it does itself. Elsewhere: ru_maxrss (KiB on Linux, bytes on macOS).
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20


def current_rss_mib() -> float:
    """Resident set size now, in MiB (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return 0.0


def reset_peak_rss() -> bool:
    """Lower this process's peak RSS (VmHWM) to its current RSS, so that a later
    peak_rss_mib() is the high-water mark of what ran since (Linux >= 4.0:
    writing 5 to /proc/self/clear_refs). False where that is not possible; the
    peak then still includes everything before (imports, model building)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def run_child(script: str, args: list, timeout: float = 900) -> dict:
    """Run ``script args`` in a fresh interpreter with the same thread pinning
    and return the JSON object it prints on its last stdout line.

    Used for measurements that must not be polluted by the parent's history:
    peak RSS (a process-wide high-water mark) and very deep graphs.
    """
    cmd = [sys.executable, script, *args, "--threads", str(_threads or 1)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"child {' '.join(cmd)} failed (rc {proc.returncode}):\n"
                           f"{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ profile
def profile_top(fn, runs: int, top: int = 10, unit: str = "step") -> str:
    """cProfile ``runs`` calls of ``fn`` (after one unprofiled call, so lazy
    set-up is not counted) and return the ``top`` functions by own time, as
    milliseconds per call of ``fn``. cProfile makes every Python call dearer,
    so read the shares; the header gives the unprofiled time to scale by."""
    import cProfile
    import pstats

    fn()
    plain = median([time_once(fn)[0] for _ in range(max(3, runs // 2))])
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(runs):
        fn()
    prof.disable()
    stats = pstats.Stats(prof)
    per = 1e3 / runs
    lines = [f"unprofiled {plain * 1e3:.2f} ms/{unit}, profiled {stats.total_tt * per:.2f} "
             f"ms/{unit} (x{stats.total_tt / runs / plain:.1f})",
             f"{'own ms':>8} {'share':>6} {'cum ms':>8} {'calls':>8}  function"]
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:top]
    for (path, line, func), (_, nc, tt, ct, _) in rows:
        where = f"{os.path.relpath(path) if path.startswith('/') else path}:{line}({func})"
        lines.append(f"{tt * per:8.2f} {tt / stats.total_tt:6.1%} {ct * per:8.2f} "
                     f"{nc / runs:8.0f}  {where}")
    return "\n".join(lines)


# ------------------------------------------------------------------ context
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str | None:
    """Short HEAD commit (read-only git calls), with "+dirty" when minigrad/ has
    uncommitted changes: then the numbers belong to no commit exactly."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10, cwd=here)
        commit = out.stdout.strip() or None
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "minigrad"],
                               capture_output=True, timeout=10, cwd=os.path.dirname(here))
        return f"{commit}+dirty" if commit and dirty.returncode == 1 else commit
    except (OSError, subprocess.SubprocessError):
        return None


def environment(torch=None) -> dict:
    """What a reader needs to compare two result files."""
    import numpy as np

    try:
        import minigrad
        mg_version = minigrad.__version__
    except ImportError:
        mg_version = None
    return {
        "threads": _threads,
        "thread_env": {v: os.environ.get(v) for v in _THREAD_VARS[:3]},
        "thread_pools": thread_pools(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__ if torch is not None else "torch not installed",
        "minigrad": mg_version,
        "git_commit": _git_commit(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_avg": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def environment_lines(env: dict) -> list:
    """The environment as markdown bullet lines."""
    return [
        f"- CPU: {env['cpu']} ({env['cpu_count']} logical cores; load average at start "
        f"{', '.join(f'{x:.2f}' for x in env['load_avg'] or ())})",
        f"- BLAS/OpenMP threads: {env['threads']}",
        f"- Python {env['python']}, numpy {env['numpy']}, torch: {env['torch']}, "
        f"minigrad {env['minigrad']} (commit {env['git_commit']})",
        f"- {env['date']}, {env['platform']}",
    ]


# ------------------------------------------------------------------ output
def md_table(headers: list, rows: list) -> str:
    """A markdown table; cells are str()-ed."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_results(name: str, data: dict, markdown: str) -> tuple:
    """Write results/<name>.json and results/<name>.md next to this file."""
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
    os.makedirs(out, exist_ok=True)
    jpath, mpath = os.path.join(out, f"{name}.json"), os.path.join(out, f"{name}.md")
    with open(jpath, "w") as f:
        json.dump(data, f, indent=2, default=float)
        f.write("\n")
    with open(mpath, "w") as f:
        f.write(markdown.rstrip() + "\n")
    return jpath, mpath
