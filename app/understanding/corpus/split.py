"""Deterministic train/test split of the labelled chat corpus (see README.md in this folder).

The split is stratified by message type: within each type the rows are ordered by a keyed hash of
their id (sha256 of ``"<seed>:<id>"``) and the first ``round(n * test_share)`` rows go to ``test``.
The assignment therefore depends only on the seed, the share and the set of ids of each type:
re-running it on the same corpus gives the same split, and it does not depend on file order.

The ``test`` rows are the held-out set: never train on them and never tune rules or lexicons on them.

Run ``python -m app.understanding.corpus.split`` (or ``python app/understanding/corpus/split.py``)
to (re)write ``chat_corpus.jsonl`` with the ``split`` field filled in.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

CORPUS_PATH = Path(__file__).with_name("chat_corpus.jsonl")
DEFAULT_TEST_SHARE = 0.25
DEFAULT_SEED = 20261124
SPLITS = ("train", "test")


def _order_key(seed: int, row_id: str) -> str:
    return hashlib.sha256(f"{seed}:{row_id}".encode()).hexdigest()


def assign_splits(
    rows: Iterable[dict[str, Any]], test_share: float = DEFAULT_TEST_SHARE, seed: int = DEFAULT_SEED
) -> list[dict[str, Any]]:
    """Return copies of ``rows`` (same order) with ``"split": "train" | "test"``, stratified by type."""
    if not 0.0 <= test_share <= 1.0:
        raise ValueError(f"test_share must be within [0, 1], got {test_share}")
    out = [dict(row) for row in rows]
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in out:
        by_type[str(row["type"])].append(row)
    for group in by_type.values():
        ordered = sorted(group, key=lambda row: _order_key(seed, str(row["id"])))
        n_test = int(len(ordered) * test_share + 0.5)  # round half up
        for i, row in enumerate(ordered):
            row["split"] = "test" if i < n_test else "train"
    return out


def load_rows(path: Path = CORPUS_PATH, split: str | None = None) -> list[dict[str, Any]]:
    """Read the corpus (JSON Lines); optionally keep only one split (``train`` or ``test``)."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    rows = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rows.append(json.loads(line))
    if split is not None:
        rows = [row for row in rows if row.get("split") == split]
    return rows


def write_rows(rows: Iterable[dict[str, Any]], path: Path = CORPUS_PATH) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else CORPUS_PATH
    rows = assign_splits(load_rows(path))
    write_rows(rows, path)
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        counts[row["split"]] += 1
    print(f"{path}: {len(rows)} rows, " + ", ".join(f"{k}={counts[k]}" for k in SPLITS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
