"""Lower a process's CPU priority, including across Linux autogroups.

`os.nice` only ranks a process against others of its own scheduling group. With Linux's
autogroups (one group per session, `kernel.sched_autogroup_enabled=1`), processes started in
separate sessions — a process manager's children, `setsid`, each terminal — compete as groups
of equal weight whatever their nice values, so the group's own niceness has to be set too. It is
set only when this process is alone in its group: the group's niceness applies to all of it, and
lowering a shell's priority along with ours would outlive us.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

PROC = Path("/proc")


def autogroup_of(pid: int | str, proc: Path = PROC) -> str | None:
    """'/autogroup-123' for a process, or None (no autogroups, or the process is gone)."""
    try:
        return (proc / str(pid) / "autogroup").read_text().split()[0]
    except (OSError, IndexError):
        return None


def alone_in_autogroup(pid: int, proc: Path = PROC) -> bool:
    group = autogroup_of(pid, proc)
    if group is None:
        return False
    for entry in proc.iterdir():
        if entry.name.isdigit() and int(entry.name) != pid and autogroup_of(entry.name, proc) == group:
            return False
    return True


def autogroups_enabled(proc: Path = PROC) -> bool:
    try:
        return (proc / "sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return False


def lower_cpu_priority(nice: int, proc: Path = PROC) -> list[str]:
    """Raise this process's niceness by `nice` (0–19); returns what was changed, for the log."""
    if nice <= 0:
        return []
    changed = [f"nice +{nice}"]
    os.nice(nice)
    pid = os.getpid()
    if autogroups_enabled(proc) and alone_in_autogroup(pid, proc):
        try:
            (proc / "self/autogroup").write_text(str(nice))
            changed.append(f"autogroup nice {nice}")
        except OSError as exc:
            log.warning("could not lower the autogroup's CPU priority: %s", exc)
    return changed
