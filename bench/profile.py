"""Sampling profiles of the hub's processes under load with py-spy, summarised per function.

py-spy is optional (pip install py-spy into the venv; it is not a project dependency). It
attaches to a running process and samples the stack of the thread holding the GIL (--gil), so
samples are Python CPU time, not waiting. The collapsed stacks ("frame;frame;… count") are
summarised as shares of the samples: inclusive for the hub's own functions (app/, jobs/),
self time for every function, and self time per package.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.servers import ROOT, VENV_BIN

FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^():]+)(?::(?P<line>\d+))?\)$")
SAMPLE_RATE = 200  # Hz
APP_PREFIXES = ("app/", "jobs/")


def py_spy_binary() -> str | None:
    local = VENV_BIN / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def short_file(path: str) -> str:
    for marker in ("site-packages/", "/lib/python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    root = f"{ROOT}/"
    return path.removeprefix(root)


def frame_name(frame: str) -> str:
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    return f"{short_file(match['file'])}:{match['func']}"


def package_of(name: str) -> str:
    file = name.split(":", 1)[0]
    if file.startswith(("app/", "jobs/")):
        return "/".join(file.split("/")[:2])  # app/ingest, app/flows …
    head = file.split("/", 1)[0]
    return head.removesuffix(".py") if "/" not in file else head


@dataclass
class Recording:
    label: str
    pid: int
    output: Path
    proc: subprocess.Popen[bytes]


def start_recording(label: str, pid: int, output: Path) -> Recording | None:
    binary = py_spy_binary()
    if binary is None:
        return None
    proc = subprocess.Popen(
        [
            binary,
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(SAMPLE_RATE),
            "--format",
            "raw",
            "--output",
            str(output),
            "--nonblocking",
            "--gil",  # only the thread holding the GIL: Python CPU time, not waiting
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    return Recording(label, pid, output, proc)


def stop_recording(rec: Recording, seconds: float) -> dict[str, Any]:
    """SIGINT makes py-spy write its output; then summarise it."""
    if rec.proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            rec.proc.send_signal(signal.SIGINT)
    try:
        _out, err = rec.proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        rec.proc.kill()
        _out, err = rec.proc.communicate()
    if not rec.output.exists():
        message = (err or b"").decode(errors="replace").strip()[-500:]
        return {"label": rec.label, "error": message or "py-spy wrote no output"}
    return {"label": rec.label, **summarise(rec.output.read_text(), seconds)}


def summarise(collapsed: str, seconds: float, top: int = 15) -> dict[str, Any]:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame_name(f) for f in stack.split(";") if "(" in f]
        if not frames:
            continue
        total += count
        for name in {f for f in frames if f.startswith(APP_PREFIXES)}:
            inclusive[name] += count
        own[frames[-1]] += count
        packages[package_of(frames[-1])] += count

    def shares(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, n / total) for name, n in counter.most_common(top)] if total else []

    return {
        "samples": total,
        "busy": total / (seconds * SAMPLE_RATE) if seconds > 0 else 0.0,
        "inclusive": shares(inclusive),
        "self": shares(own),
        "packages": shares(packages),
    }
