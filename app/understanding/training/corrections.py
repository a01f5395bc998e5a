"""Staff corrections exported from the console as training rows for retraining.

    python -m app.understanding.training.train_types --corrections corrections.jsonl
    python -m app.understanding.training.train_sentiment --corrections corrections.jsonl
    make train CORRECTIONS=corrections.jsonl

Reads the 消息更正 export (``/corrections/export.jsonl`` or ``/corrections/export.csv``, same fields).
The export's ``open_task`` and ``context`` (the lines before the message) train with the label, so a
short answer is learnt with what it answered; exports without them train on the text alone.
Every line is checked first and one bad line refuses the whole file, naming the line. Where a message
was corrected more than once (an export with ``history=true``), the last correction counts. A text that
matches a held-out corpus message after normalisation is left out, so `make eval` stays honest.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.understanding.context import CONTEXT_LINES
from app.understanding.types import CATEGORY_OF_ROLE, SENTIMENT_LABELS, TYPES_BY_CODE

REQUIRED = ("text", "field", "label", "message_id")
COLUMNS = ("text", "sender_role", "field", "label", "message_id")
FIELDS = ("message_type", "sentiment")
ROLE_NAMES = {"user": "用户", "staff": "工作人员", "operator": "运营"}


class CorrectionsError(ValueError):
    """A corrections file that cannot be used as it is; the message names the file and line."""


@dataclass
class CorrectionRows:
    types: list[dict[str, Any]] = field(default_factory=list)
    sentiments: list[dict[str, Any]] = field(default_factory=list)
    superseded: int = 0  # earlier corrections of the same message and field
    held_out: int = 0  # texts of the corpus's held-out split, left out
    sources: list[dict[str, Any]] = field(default_factory=list)  # file name, sha256, lines

    def summary(self) -> str:
        return (
            f"人工更正：类型 {len(self.types)} 条，情绪 {len(self.sentiments)} 条"
            f"（被后来的更正取代 {self.superseded} 条，与测试集重复而略去 {self.held_out} 条）"
        )

    def meta(self) -> dict[str, Any]:
        return {
            "files": self.sources,
            "message_type": len(self.types),
            "sentiment": len(self.sentiments),
            "held_out_skipped": self.held_out,
        }


def load_corrections(paths: Sequence[Path]) -> CorrectionRows:
    """Training rows from one or more correction exports (later files override earlier ones)."""
    collected = _Collected()
    for path in paths:
        raw = _read(path)
        lines = collected.add(_records(path, raw))
        collected.sources.append(
            {"file": path.name, "sha256": hashlib.sha256(raw).hexdigest()[:16], "lines": lines}
        )
    return collected.rows()


def corrections_from_records(records: Iterable[tuple[str, dict[str, Any]]], source: str) -> CorrectionRows:
    """Training rows from export records already in memory (the console's retraining); each record is
    (where, record) with the export's fields, checked like a file's lines."""
    collected = _Collected()
    collected.sources.append({"file": source, "lines": collected.add(records)})
    return collected.rows()


@dataclass
class _Collected:
    latest: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    superseded: int = 0
    sources: list[dict[str, Any]] = field(default_factory=list)

    def add(self, records: Iterable[tuple[str, dict[str, Any]]]) -> int:
        lines = 0
        for where, record in records:
            row = _row(where, record)
            key = (str(row["id"]), "type" if "type" in row else "sentiment")
            self.superseded += key in self.latest
            self.latest[key] = row
            lines += 1
        return lines

    def rows(self) -> CorrectionRows:
        from app.understanding.corpus import load_rows
        from app.understanding.corpus.check import normalised

        result = CorrectionRows(superseded=self.superseded, sources=self.sources)
        held_out = {normalised(str(r["text"])) for r in load_rows(split="test")}
        for row in self.latest.values():
            if normalised(str(row["text"])) in held_out:
                result.held_out += 1
            elif "type" in row:
                result.types.append(row)
            else:
                result.sentiments.append(row)
        return result


def corrections_for_training(paths: Sequence[Path]) -> CorrectionRows | None:
    """``load_corrections`` for a training command: prints what it read, or the error and None."""
    try:
        rows = load_corrections(paths)
    except CorrectionsError as exc:
        print(f"人工更正文件有误，未训练：{exc}", file=sys.stderr)
        return None
    if paths:
        print(rows.summary(), file=sys.stderr)
    return rows


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CorrectionsError(f"{path}: 无法读取（{exc.strerror or exc}）") from exc


def _records(path: Path, raw: bytes) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorrectionsError(f"{path}: 不是 UTF-8 文本") from exc
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        missing = [name for name in COLUMNS if name not in (reader.fieldnames or [])]
        if missing:
            raise CorrectionsError(f"{path}: 缺少列 {', '.join(missing)}（应为消息更正页导出的 CSV）")
        for number, record in enumerate(reader, start=2):
            yield f"{path}:{number}", dict(record)
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorrectionsError(f"{path}:{number}: 不是有效的 JSON（{exc.msg}）") from exc
        if not isinstance(record, dict):
            raise CorrectionsError(f"{path}:{number}: 每行应是一个 JSON 对象")
        yield f"{path}:{number}", record


def _flag(where: str, value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return bool(value)
    if str(value).strip().lower() in ("true", "1"):
        return True
    if str(value).strip().lower() in ("false", "0", ""):
        return False
    raise CorrectionsError(f"{where}: open_task 应为 true 或 false，而不是 {value}")


def _context(where: str, value: Any) -> list[dict[str, str]]:
    """The lines before the message: a list of {role, content}, or that list as JSON text (CSV)."""
    if value in (None, ""):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise CorrectionsError(f"{where}: context 不是有效的 JSON（{exc.msg}）") from exc
    if not isinstance(value, list) or not all(
        isinstance(line, dict) and isinstance(line.get("content"), str) for line in value
    ):
        raise CorrectionsError(f"{where}: context 应为 [{{role, content}}, …] 列表")
    return [
        {"role": str(line.get("role") or "user"), "content": line["content"]}
        for line in value[-CONTEXT_LINES:]
    ]


def _row(where: str, record: dict[str, Any]) -> dict[str, Any]:
    missing = [name for name in REQUIRED if record.get(name) in (None, "")]
    if missing:
        raise CorrectionsError(f"{where}: 缺少 {', '.join(missing)}")
    text, kind, label = str(record["text"]), str(record["field"]), str(record["label"])
    # A message whose sender was never identified: its corrected type tells the category.
    role = str(record.get("sender_role") or "")
    if not role:
        known_type = TYPES_BY_CODE.get(label) if kind == "message_type" else None
        role = known_type.category if known_type else "user"
    category = CATEGORY_OF_ROLE.get(role)
    if category is None:
        raise CorrectionsError(f"{where}: sender_role 无效：{role}（可选 user | staff | operator | robot）")
    row: dict[str, Any] = {
        "id": f"k{record['message_id']}",
        "text": text,
        "sender_role": category,
        "context": _context(where, record.get("context")),
        "open_task": _flag(where, record.get("open_task")) and category == "user",
        "split": "train",
    }
    if kind == "message_type":
        known = TYPES_BY_CODE.get(label)
        if known is None:
            raise CorrectionsError(f"{where}: 未知的消息类型编码：{label}")
        if known.category != category:
            raise CorrectionsError(f"{where}: 类型 {label} 不适用于{ROLE_NAMES[category]}发送的消息")
        row["type"] = label
    elif kind == "sentiment":
        if label not in SENTIMENT_LABELS:
            raise CorrectionsError(f"{where}: 未知的情绪标签：{label}（可选 {' | '.join(SENTIMENT_LABELS)}）")
        row["sentiment"] = label
    else:
        raise CorrectionsError(f"{where}: field 只能是 {' 或 '.join(FIELDS)}，而不是 {kind}")
    return row
