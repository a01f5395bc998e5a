from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from app.chat.session_service import EXPORT_FIELDS
from app.understanding.classifier import TypeModel
from app.understanding.corpus import load_rows
from app.understanding.training import train_types
from app.understanding.training.corrections import (
    CorrectionsError,
    corrections_from_records,
    load_corrections,
)

FIELDS = list(EXPORT_FIELDS)


def record(
    message_id: int, text: str, field: str, label: str, role: str = "user", **seen: object
) -> dict[str, object]:
    return {
        "text": text,
        "sender_role": role,
        "field": field,
        "label": label,
        "old_value": None,
        "corrected_by": "admin",
        "corrected_at": "2026-12-07T10:00:00+00:00",
        "message_id": message_id,
        "open_task": False,
        "open_task_type": None,
        "context": [],
        **seen,
    }


def write_jsonl(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


EXPORT = [
    record(7, "鲲鹏计划的钱到底什么时候给", "message_type", "chat_inquiry"),
    record(8, "鲲鹏计划真不错", "sentiment", "positive"),
    record(7, "鲲鹏计划的钱到底什么时候给", "message_type", "chat_complaint"),  # corrected again
    record(9, "@所有人 今晚八点前交鲲鹏作品", "message_type", "staff_at_user", role="robot"),
    record(
        12,
        "收到",
        "message_type",
        "chat_cooperation",
        open_task=True,
        open_task_type="自拍视频",
        context=[{"role": "staff", "content": "@小美 今天的自拍视频记得拍一下"}],
    ),
]


def test_an_export_becomes_training_rows_with_the_last_correction_winning(tmp_path: Path) -> None:
    rows = load_corrections([write_jsonl(tmp_path / "corrections.jsonl", EXPORT)])
    assert rows.superseded == 1 and rows.held_out == 0
    by_id = {r["id"]: r for r in rows.types}
    assert by_id["k7"]["type"] == "chat_complaint" and by_id["k7"]["split"] == "train"
    assert by_id["k9"]["sender_role"] == "staff"  # robots count as staff
    assert [(r["id"], r["sentiment"]) for r in rows.sentiments] == [("k8", "positive")]
    unknown_sender = load_corrections(
        [
            write_jsonl(
                tmp_path / "no_role.jsonl", [record(11, "收到", "message_type", "staff_other", role="")]
            )
        ]
    )
    assert unknown_sender.types[0]["sender_role"] == "staff"  # the corrected type tells the category
    answer = by_id["k12"]  # a short answer is learnt with what it answered
    assert answer["open_task"] is True and answer["context"][0]["content"].startswith("@小美")
    assert rows.meta()["files"][0]["lines"] == 5
    assert "类型 3 条，情绪 1 条" in rows.summary()


def test_the_csv_export_reads_like_the_jsonl_one(tmp_path: Path) -> None:
    path = tmp_path / "corrections.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(FIELDS)
        for r in EXPORT:  # as the hub writes it: the context as JSON text, True / False
            cells = {**r, "context": json.dumps(r["context"], ensure_ascii=False)}
            writer.writerow(["" if cells[k] is None else cells[k] for k in FIELDS])
    from_csv = load_corrections([path])
    from_jsonl = load_corrections([write_jsonl(tmp_path / "same.jsonl", EXPORT)])
    assert from_csv.types == from_jsonl.types and from_csv.sentiments == from_jsonl.sentiments


def test_held_out_texts_never_become_training_rows(tmp_path: Path) -> None:
    held_out = next(r for r in load_rows(split="test") if r["sender_role"] == "user")
    export = [*EXPORT, record(10, held_out["text"] + " ", "message_type", "chat_other")]
    rows = load_corrections([write_jsonl(tmp_path / "corrections.jsonl", export)])
    assert rows.held_out == 1 and "k10" not in {r["id"] for r in rows.types}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "corrections.jsonl:2: 不是有效的 JSON"),
        (json.dumps(record(3, "好的", "message_type", "staff_reply_user")), "不适用于用户发送的消息"),
        (json.dumps(record(3, "好的", "message_type", "chat_nonsense")), "未知的消息类型编码：chat_nonsense"),
        (json.dumps(record(3, "好的", "sentiment", "angry")), "未知的情绪标签：angry"),
        (json.dumps(record(3, "好的", "category", "x")), "field 只能是 message_type 或 sentiment"),
        (json.dumps(record(3, "", "sentiment", "neutral")), "corrections.jsonl:2: 缺少 text"),
        (json.dumps(record(3, "好的", "sentiment", "neutral", role="boss")), "sender_role 无效：boss"),
        (json.dumps(record(3, "好的", "sentiment", "neutral", context="[{")), "context 不是有效的 JSON"),
        (json.dumps(record(3, "好的", "sentiment", "neutral", context=["在吗"])), "context 应为"),
        (
            json.dumps(record(3, "好的", "sentiment", "neutral", open_task="maybe")),
            "open_task 应为 true 或 false",
        ),
    ],
)
def test_a_bad_line_refuses_the_whole_file_and_names_the_line(
    tmp_path: Path, line: str, message: str
) -> None:
    path = tmp_path / "corrections.jsonl"
    path.write_text(json.dumps(EXPORT[0], ensure_ascii=False) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(CorrectionsError, match=message):
        load_corrections([path])


def test_a_csv_without_the_export_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("内容,类型\n你好,chat_daily\n", encoding="utf-8")
    with pytest.raises(CorrectionsError, match="缺少列 text, sender_role, field, label, message_id"):
        load_corrections([path])


def test_type_training_takes_the_corrections(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "好的"}\n', encoding="utf-8")
    assert train_types.main(["--c", "32", "--corrections", str(bad), "--out", str(tmp_path / "no")]) == 2
    assert "人工更正文件有误，未训练" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()

    export = write_jsonl(tmp_path / "corrections.jsonl", EXPORT)
    out = tmp_path / "models"
    assert train_types.main(["--c", "32", "--corrections", str(export), "--out", str(out)]) == 0
    paths = {category: TypeModel.path(category, out) for category in ("user", "staff", "operator")}
    assert all(path.exists() for path in paths.values())
    with np.load(paths["user"], allow_pickle=True) as data:
        meta = json.loads(str(data["meta"]))
        vocabulary = {str(v) for v in data["vocabulary"]}
    assert meta["corrections"]["message_type"] == 3 and meta["corrections"]["files"][0]["file"] == export.name
    assert "鲲鹏" in vocabulary  # a character pair that only the corrected messages contain
    assert "类型 3 条" in capsys.readouterr().err


def test_records_in_memory_read_like_an_export_file(tmp_path: Path) -> None:
    from_file = load_corrections([write_jsonl(tmp_path / "c.jsonl", EXPORT)])
    in_memory = corrections_from_records(((f"更正 {n}", r) for n, r in enumerate(EXPORT, 1)), "console")
    assert in_memory.types == from_file.types and in_memory.sentiments == from_file.sentiments
    assert in_memory.superseded == 1 and in_memory.sources == [{"file": "console", "lines": len(EXPORT)}]
    with pytest.raises(CorrectionsError, match="更正 1: 未知的消息类型编码"):
        corrections_from_records([("更正 1", record(1, "好", "message_type", "chat_nonsense"))], "console")


def test_a_type_model_survives_the_round_trip_through_bytes() -> None:
    shipped = TypeModel.load()
    assert shipped is not None
    copy = TypeModel.from_bytes(shipped.to_bytes())
    features = ["^请", "请问", "结算", "§question"]
    for category in ("user", "staff", "operator"):
        assert copy.probabilities(features, category) == shipped.probabilities(features, category)
        assert copy.by_category[category].meta == shipped.by_category[category].meta
