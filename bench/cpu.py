"""CPU accounting from /proc: per-process CPU time of the hub's processes and the whole box."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of one process (0.0 once it has gone)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = raw.rsplit(")", 1)[1].split()  # the command name may contain spaces
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


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


@dataclass
class CpuMeter:
    """Measure CPU use between start() and stop(), in cores (1.0 = one core fully busy)."""

    pids: dict[str, int]
    started: float = 0.0
    before: dict[str, float] = field(default_factory=dict)
    system_before: tuple[float, float] = (0.0, 0.0)

    def start(self) -> CpuMeter:
        self.before = {name: process_cpu_seconds(pid) for name, pid in self.pids.items()}
        self.system_before = system_cpu_seconds()
        self.started = time.monotonic()
        return self

    def stop(self) -> dict[str, float]:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        used = {
            name: (process_cpu_seconds(pid) - self.before[name]) / elapsed for name, pid in self.pids.items()
        }
        busy, total = system_cpu_seconds()
        busy_delta = busy - self.system_before[0]
        total_delta = total - self.system_before[1]
        cores = os.cpu_count() or 1
        used["system"] = busy_delta / total_delta * cores if total_delta > 0 else 0.0
        return used
