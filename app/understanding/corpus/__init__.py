"""The project's labelled chat corpus (see README.md in this folder)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.understanding.types import ContextLine, MessageInput

CORPUS_PATH = Path(__file__).parent / "chat_corpus.jsonl"
# Training-only additions (README.md): never part of the held-out split.
EXTRA_TRAIN_PATH = Path(__file__).parent / "chat_corpus_train_extra.jsonl"
# Open-task answers that train the after-sales response model only (README.md).
RESPONSE_TRAIN_PATH = Path(__file__).parent / "chat_corpus_train_responses.jsonl"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_rows(path: Path = CORPUS_PATH, split: str | None = None, extra: bool = True) -> list[dict[str, Any]]:
    """Corpus rows, optionally one split; the train split includes the training-only additions."""
    rows = read_jsonl(path)
    if extra and split in (None, "train") and path == CORPUS_PATH and EXTRA_TRAIN_PATH.exists():
        rows += read_jsonl(EXTRA_TRAIN_PATH)
    if split is not None:
        missing = [r["id"] for r in rows if "split" not in r]
        if missing:
            raise ValueError(f"corpus rows without a split: {missing[:5]} (run corpus/split.py)")
        rows = [r for r in rows if r["split"] == split]
    return rows


def response_training_rows() -> list[dict[str, Any]]:
    return read_jsonl(RESPONSE_TRAIN_PATH) if RESPONSE_TRAIN_PATH.exists() else []


def row_input(row: dict[str, Any]) -> MessageInput:
    from app.understanding.context import at_names

    context = tuple(ContextLine(c["role"], c["content"]) for c in row.get("context") or [])
    return MessageInput(
        text=row["text"],
        sender_role=row["sender_role"],
        at_names=at_names(row["text"]),
        context=context,
        open_task=bool(row.get("open_task")),
    )
