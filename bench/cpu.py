"""CPU accounting from /proc: the hub's processes, the databases, the whole box.

Figures are in cores (1.0 = one core fully busy) over the measured interval.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
DATABASE_COMMANDS = frozenset({"postgres", "redis-server"})


def _stat_fields(pid: int | str) -> tuple[str, list[str]] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    head, _, tail = raw.rpartition(")")  # the command name may contain spaces or parentheses
    return head.split("(", 1)[1], tail.split()


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of one process (0.0 once it has gone)."""
    parsed = _stat_fields(pid)
    if parsed is None:
        return 0.0
    fields = parsed[1]
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def commands_cpu_seconds(commands: frozenset[str]) -> dict[int, float]:
    """pid → CPU seconds for every process whose command name is in `commands`."""
    found: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        parsed = _stat_fields(entry.name)
        if parsed is not None and parsed[0] in commands:
            fields = parsed[1]
            found[int(entry.name)] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return found


def system_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds summed over all cores since boot."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0, 0.0
    values = [int(v) for v in first]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


def box_busy_cores(seconds: float) -> float:
    """Cores busy on the whole box over the next `seconds`."""
    busy0, total0 = system_cpu_seconds()
    time.sleep(seconds)
    busy1, total1 = system_cpu_seconds()
    cores = os.cpu_count() or 1
    return (busy1 - busy0) / (total1 - total0) * cores if total1 > total0 else 0.0


def wait_for_quiet(threshold: float, timeout: float, sample: float = 2.0) -> float:
    """Wait (up to `timeout`) until the box is nearly idle; return the last background load measured.

    Other work on the box (a test suite, a browser) takes CPU from the server under test, so
    measured runs start only when background load is below `threshold` cores.
    """
    deadline = time.monotonic() + timeout
    announced = False
    while True:
        load = box_busy_cores(sample)
        if load <= threshold or time.monotonic() >= deadline:
            if announced:
                print(
                    f"  box quiet enough: {load:.2f} cores busy" if load <= threshold else "  gave up waiting"
                )
            return load
        if not announced:
            print(f"  waiting for the box to go quiet ({load:.2f} cores busy in the background) …")
            announced = True


@dataclass
class CpuMeter:
    """CPU used between start() and stop() by named pids, PostgreSQL + Redis, and the whole box."""

    pids: dict[str, int]
    started: float = 0.0
    before: dict[str, float] = field(default_factory=dict)
    databases_before: dict[int, float] = field(default_factory=dict)
    system_before: tuple[float, float] = (0.0, 0.0)

    def start(self) -> CpuMeter:
        self.before = {name: process_cpu_seconds(pid) for name, pid in self.pids.items()}
        self.databases_before = commands_cpu_seconds(DATABASE_COMMANDS)
        self.system_before = system_cpu_seconds()
        self.started = time.monotonic()
        return self

    def stop(self) -> dict[str, float]:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        busy, total = system_cpu_seconds()
        used = {
            name: (process_cpu_seconds(pid) - self.before[name]) / elapsed for name, pid in self.pids.items()
        }
        databases = commands_cpu_seconds(DATABASE_COMMANDS)
        used["databases"] = (
            sum(cpu - self.databases_before.get(pid, 0.0) for pid, cpu in databases.items()) / elapsed
        )
        busy_delta = busy - self.system_before[0]
        total_delta = total - self.system_before[1]
        cores = os.cpu_count() or 1
        used["system"] = busy_delta / total_delta * cores if total_delta > 0 else 0.0
        return used
