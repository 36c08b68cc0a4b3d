"""What the benches share: whole-process timing with the child's own
rusage, median and range, the machine's description, and the results file.

Every figure is a whole process timed from its start (fork) to its exit as
the parent sees it (os.wait4), so interpreter start-up, imports and
connection set-up count, exactly as an operator waits for them. A sample
whose command fails raises BenchError: it is an error, never a timing.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SCHEMA = "dr-console/bench/v1"
RATIO_FASTER = "baseline median / dr-console median (> 1: dr-console is faster)"
PEAK_RSS_METHOD = ("os.wait4() rusage of the child process: ru_maxrss, the largest resident set of "
                   "that process (or of a child it waited for), read once it has exited")
CPU_METHOD = ("the command's CPU: os.wait4() rusage (user + system, with the children it waited for); "
              "the machine's: /proc/stat between fork and exit, busy (user, nice, system, irq, softirq, "
              "steal) and idle (idle, iowait) CPU-seconds over all cores; a server's: utime + stime of "
              "its process in /proc/PID/stat over the same interval")


class BenchError(Exception):
    """A bench cannot give an honest figure: a command failed, a result
    differs, a tool is missing. The bench exits non-zero with the message."""


@dataclass
class Timed:
    """One whole-process sample."""

    argv: list[str]
    seconds: float
    returncode: int
    maxrss_bytes: int
    stdout: str
    stderr: str
    cpu_seconds: float = 0.0  # the command and the children it waited for, user + system
    machine_busy_seconds: float = 0.0  # every process on every core, fork to exit
    machine_idle_seconds: float = 0.0


def machine_cpu() -> tuple[float, float]:
    """(busy, idle) CPU-seconds of the whole machine since boot, all cores:
    what a run's figures are differences of. Idle counts iowait too: a core
    waiting on the disk could have run something else."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq + steal) / tick, (idle + iowait) / tick


def process_cpu(pid: int) -> float | None:
    """utime + stime of a running process (all its threads), in seconds, or
    None when it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_timed(argv: Sequence[str], *, env: Mapping[str, str] | None = None,
              timeout: float = 3600, ok: Sequence[int] = (0,), what: str = "",
              stdin_text: str | None = None) -> Timed:
    """Run `argv` to completion and time it from fork to exit. Its output
    goes to temporary files (no pipe can stall it). A return code outside
    `ok`, or a timeout, raises BenchError naming the command and the end
    of its stderr."""
    import tempfile

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.TemporaryFile() as inp:
        if stdin_text is not None:
            inp.write(stdin_text.encode())
            inp.seek(0)
        killed = threading.Event()
        busy0, idle0 = machine_cpu()
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdout=out, stderr=err,
                                stdin=inp if stdin_text is not None else subprocess.DEVNULL,
                                env=dict(env) if env is not None else None, start_new_session=True)

        def watchdog() -> None:
            killed.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)  # its own session: the pipeline with it

        timer = threading.Timer(timeout, watchdog)
        timer.start()
        try:
            _pid, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # Ctrl-C: the child is in its own session, so stop it here
            watchdog()
            os.waitpid(proc.pid, 0)
            proc.returncode = -9
            raise
        finally:
            timer.cancel()
        seconds = time.perf_counter() - start
        busy1, idle1 = machine_cpu()
        proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait again
        out.seek(0)
        err.seek(0)
        timed = Timed(list(argv), seconds, proc.returncode, usage.ru_maxrss * 1024,
                      out.read().decode(errors="replace"), err.read().decode(errors="replace"),
                      cpu_seconds=usage.ru_utime + usage.ru_stime,
                      machine_busy_seconds=busy1 - busy0, machine_idle_seconds=idle1 - idle0)
    label = what or " ".join(str(a) for a in argv[:4])
    if killed.is_set():
        raise BenchError(f"{label}: no exit within {timeout:.0f}s (killed)")
    if timed.returncode not in ok:
        tail = (timed.stderr.strip() or timed.stdout.strip())[-1500:]
        raise BenchError(f"{label} failed (exit {timed.returncode}):\n{tail}")
    return timed


def summary(samples: Sequence[float], digits: int = 3) -> dict[str, Any]:
    """Samples in the order taken, with median and range."""
    if not samples:
        raise BenchError("no samples")
    return {"samples": [round(s, digits) for s in samples],
            "median": round(statistics.median(samples), digits),
            "min": round(min(samples), digits), "max": round(max(samples), digits)}


def ratio(numerator: float, denominator: float) -> float:
    return round(numerator / denominator, 2) if denominator > 0 else float("inf")


def alternating(n: int, a: str, b: str) -> list[str]:
    """n samples of each side, in A B B A A B … order: each side goes first
    as often as the other (±1), so a slow drift of the machine, or a cache
    warmed by the previous sample, does not favour one side."""
    order: list[str] = []
    for i in range(n):
        order += [a, b] if i % 2 == 0 else [b, a]
    return order


def fmt_s(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1000:.0f} ms"


def fmt_range(stats: Mapping[str, Any]) -> str:
    """Median, then the range in the same unit: `6.37 s (5.98-7.10)`."""
    if stats["median"] >= 1:
        return f"{stats['median']:.2f} s ({stats['min']:.2f}-{stats['max']:.2f})"
    return f"{stats['median'] * 1000:.0f} ms ({stats['min'] * 1000:.0f}-{stats['max'] * 1000:.0f})"


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def machine() -> dict[str, Any]:
    """The conditions every figure was measured under."""
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "ram_bytes": None,
        "cpu": platform.processor() or platform.machine(),
        "kernel": platform.release(),
        "os": "",
        "python": sys.version.split()[0],
        "load_average": list(os.getloadavg()),
    }
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["ram_bytes"] = int(line.split()[1]) * 1024
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                info["os"] = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return info


def require_tools(paths: Mapping[str, str]) -> None:
    """{path or name: how to get it}. Refuses to run without them."""
    missing = []
    for tool, how in paths.items():
        found = os.access(tool, os.X_OK) if tool.startswith("/") else shutil.which(tool)
        if not found:
            missing.append(f"{tool} ({how})")
    if missing:
        raise BenchError("the baseline needs these and they are missing, so there is nothing honest "
                         "to compare with; refusing to run: " + "; ".join(missing))


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_part(path: Path, data: Mapping[str, Any]) -> None:
    """One bench's results, written atomically (a failed bench leaves none)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)


def run_id() -> str:
    """Ties the parts of one `make bench` run together."""
    return os.environ.get("DR_BENCH_RUN") or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def venv_bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def main_guard(func: Any) -> int:
    """Run a bench's main; a BenchError is one clear message and exit 1."""
    try:
        return int(func() or 0)
    except BenchError as exc:
        print(f"\nBENCH FAILED: {exc}", file=sys.stderr)
        return 1
