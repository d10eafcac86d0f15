"""Process helpers for the bench: CPU time and RSS of a process tree, read straight from /proc (Linux
only), the fd limit, and waiting for a stop signal.

The whole tree is summed so a system under test that forks workers is still
measured completely. No psutil: the benchmark adds no dependencies.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode("ascii", "replace")
    except OSError:
        return None
    # comm (field 2) may contain spaces and parentheses: split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def descendants(pid: int) -> list[int]:
    """pid plus all its live descendants."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = _stat_fields(int(name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(name))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, ()))
    return tree


def cpu_seconds(pid: int) -> float:
    """utime+stime of pid and live descendants, plus children it already reaped."""
    total = 0
    for p in descendants(pid):
        fields = _stat_fields(p)
        if fields is None:
            continue
        # After the split: [0]=state [1]=ppid ... [11]=utime [12]=stime [13]=cutime [14]=cstime
        total += int(fields[11]) + int(fields[12])
        if p == pid:
            total += int(fields[13]) + int(fields[14])
    return total / CLK_TCK


def rss_kib(pid: int) -> int:
    """Sum of VmRSS (KiB) over pid and live descendants."""
    total = 0
    for p in descendants(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


def host_busy_seconds() -> float:
    """Machine-wide non-idle CPU seconds (all cores), from the first line of /proc/stat.

    Compared with the benchmark's own processes it shows how much CPU something
    else (another test run, a noisy neighbour) took during a window.
    """
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    # user nice system idle iowait irq softirq steal ...: idle and iowait are not busy.
    values = [int(v) for v in fields[:8]]
    return (sum(values) - values[3] - values[4]) / CLK_TCK


def raise_nofile_limit() -> int:
    """Raise the soft fd limit to the hard limit (thousands of sockets are expected; children inherit it).

    Returns:
        The soft limit now in force.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def wait_for_stop_signal(max_seconds: float) -> None:
    """Return on SIGTERM or SIGINT, or after max_seconds: a bench server never outlives its run."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=max_seconds)
