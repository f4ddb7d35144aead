"""CPU time and resident memory of processes, read from /proc (Linux only).

``make bench-load`` uses it to report what a subscriber's message costs all the processes of the
topology together (the load generator excluded) and how large each Rasa process grows.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
#: The machine's services the topology uses (PostgreSQL backends, Redis, RabbitMQ's Erlang VM).
SERVICE_COMMANDS = ("postgres", "redis-server", "beam.smp")


def _stat_fields(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name (which may hold spaces and parentheses)."""
    text = (PROC / str(pid) / "stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def command(pid: int) -> str:
    """The command name of a process (``postgres``, ``redis-server``, ...)."""
    return (PROC / str(pid) / "comm").read_text().strip()


def _all_pids() -> list[int]:
    return [int(entry.name) for entry in PROC.iterdir() if entry.name.isdigit()]


def children() -> dict[int, list[int]]:
    """Parent pid -> its children's pids, for every process now alive."""
    found: dict[int, list[int]] = defaultdict(list)
    for pid in _all_pids():
        try:
            found[int(_stat_fields(pid)[1])].append(pid)
        except (OSError, ValueError, IndexError):
            continue  # gone while reading
    return found


def tree(root: int, family: dict[int, list[int]] | None = None) -> set[int]:
    """``root`` and all its descendants alive now."""
    family = children() if family is None else family
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(family.get(pid, ()))
    return found


def named(commands: Iterable[str]) -> set[int]:
    """Processes whose command name is one of ``commands``."""
    wanted = set(commands)
    found = set()
    for pid in _all_pids():
        try:
            if command(pid) in wanted:
                found.add(pid)
        except OSError:
            continue
    return found


def cpu_seconds(pids: Iterable[int]) -> dict[int, float]:
    """User + system CPU seconds each process has used so far (processes gone are left out)."""
    used = {}
    for pid in pids:
        try:
            fields = _stat_fields(pid)
        except (OSError, ValueError):
            continue
        # utime and stime are fields 14 and 15 of stat; after the command name they are 12 and 13
        used[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return used


def cpu_used_between(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two samples: processes alive in both, and new ones from zero."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def rss_mb(pids: Iterable[int]) -> float:
    """Resident memory of the processes together, MB."""
    total = 0
    for pid in pids:
        try:
            total += int((PROC / str(pid) / "statm").read_text().split()[1]) * PAGE_BYTES
        except (OSError, ValueError, IndexError):
            continue
    return round(total / 2**20, 1)
