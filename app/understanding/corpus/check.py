"""Check candidate training rows before they join ``chat_corpus_train_extra.jsonl``.

    python -m app.understanding.corpus.check CANDIDATES.jsonl [--write-clean OUT.jsonl]

Every row must follow the field reference and label guide in README.md (allowed values, type agrees
with the sender role, responses only with an open task, intervention fields agree, 0–3 context lines).
A row is rejected when its normalised text (spaces, punctuation and emoji removed, ``@name`` dropped,
digits masked) equals, or has a character-bigram Jaccard similarity ≥ 0.5 with, any line already in
the corpus (either split) or an earlier candidate. Rejections name the row only, never the line it
resembles, so checking does not reveal held-out rows.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from collections import defaultdict
from pathlib import Path
from typing import Any

from app.understanding.corpus import CORPUS_PATH, EXTRA_TRAIN_PATH, RESPONSE_TRAIN_PATH, read_jsonl
from app.understanding.types import CATEGORY_OF_ROLE, TYPES_BY_CATEGORY

FIELDS = {
    "id",
    "text",
    "sender_role",
    "type",
    "sentiment",
    "after_sales_response",
    "open_task",
    "intervention_needed",
    "intervention_reason",
    "context",
    "split",
}
ROLES = ("user", "staff", "operator")
SENTIMENTS = ("negative", "neutral", "positive")
RESPONSES = ("response", "refusal", "none")
REASONS = ("complaint", "low_confidence", "conflict", "after_sales_wait")
SIMILAR = 0.5
MIN_COMPARED = 6
AT_NAME = re.compile(r"@[^\s@，,:：]{1,20}[\s\u2005]?")


def normalised(text: str) -> str:
    text = AT_NAME.sub("", unicodedata.normalize("NFKC", text).lower())
    text = re.sub(r"\d", "0", text)
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LN")


def bigrams(text: str) -> frozenset[str]:
    return frozenset(text[i : i + 2] for i in range(len(text) - 1))


def problems(row: dict[str, Any]) -> list[str]:
    found: list[str] = []
    if set(row) != FIELDS:
        found.append(f"fields differ: missing {sorted(FIELDS - set(row))}, extra {sorted(set(row) - FIELDS)}")
        return found
    role = row["sender_role"]
    if role not in ROLES:
        return [f"sender_role {role!r}"]
    if row["type"] not in TYPES_BY_CATEGORY[CATEGORY_OF_ROLE[role]]:
        found.append(f"type {row['type']!r} is not a {role} type")
    if not isinstance(row["text"], str) or not row["text"].strip():
        found.append("empty text")
    if row["sentiment"] not in SENTIMENTS:
        found.append(f"sentiment {row['sentiment']!r}")
    if row["after_sales_response"] not in RESPONSES:
        found.append(f"after_sales_response {row['after_sales_response']!r}")
    if not isinstance(row["open_task"], bool) or not isinstance(row["intervention_needed"], bool):
        found.append("open_task and intervention_needed must be booleans")
    if row["open_task"] and role != "user":
        found.append("open_task is only for users")
    if row["after_sales_response"] != "none" and not row["open_task"]:
        found.append("response/refusal needs open_task")
    if row["intervention_needed"] != (row["intervention_reason"] is not None):
        found.append("intervention_needed and intervention_reason disagree")
    if row["intervention_reason"] is not None and row["intervention_reason"] not in REASONS:
        found.append(f"intervention_reason {row['intervention_reason']!r}")
    if role == "staff" and row["intervention_needed"]:
        found.append("staff rows never need intervention")
    context = row["context"]
    if not isinstance(context, list) or len(context) > 3:
        found.append("context must be a list of 0–3 lines")
    else:
        for line in context:
            well_formed = isinstance(line, dict) and set(line) == {"role", "content"}
            if not well_formed or line.get("role") not in ROLES:
                found.append(f"bad context line {line!r}")
    if row["split"] != "train":
        found.append("split must be train")
    return found


class SimilarityIndex:
    def __init__(self) -> None:
        self.exact: set[str] = set()
        self.by_gram: dict[str, list[int]] = defaultdict(list)
        self.grams: list[frozenset[str]] = []

    def clashes(self, text: str) -> bool:
        norm = normalised(text)
        if norm in self.exact:
            return True
        if len(norm) < MIN_COMPARED:
            return False
        mine = bigrams(norm)
        shared: dict[int, int] = defaultdict(int)
        for gram in mine:
            for other in self.by_gram.get(gram, ()):
                shared[other] += 1
        for other, common in shared.items():
            union = len(mine) + len(self.grams[other]) - common
            if union and common / union >= SIMILAR:
                return True
        return False

    def add(self, text: str) -> None:
        norm = normalised(text)
        self.exact.add(norm)
        if len(norm) >= MIN_COMPARED:
            index = len(self.grams)
            self.grams.append(bigrams(norm))
            for gram in self.grams[-1]:
                self.by_gram[gram].append(index)


def check(candidates: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    index = SimilarityIndex()
    for path in (CORPUS_PATH, EXTRA_TRAIN_PATH, RESPONSE_TRAIN_PATH):
        for row in read_jsonl(path):
            index.add(row["text"])
    kept: list[dict[str, Any]] = []
    report: list[str] = []
    for n, row in enumerate(candidates, 1):
        label = f"line {n} ({row.get('text', '')!r})"
        wrong = problems(row)
        if wrong:
            report.append(f"{label}: " + "; ".join(wrong))
            continue
        if index.clashes(row["text"]):
            report.append(f"{label}: too close to an existing corpus line or an earlier candidate")
            continue
        index.add(row["text"])
        kept.append(row)
    return kept, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="检查候选训练数据（不泄露测试集内容）")
    parser.add_argument("candidates", type=Path)
    parser.add_argument("--write-clean", type=Path, default=None)
    args = parser.parse_args(argv)
    rows = read_jsonl(args.candidates)
    kept, report = check(rows)
    for line in report:
        print(line)
    print(f"{len(kept)} of {len(rows)} rows pass", file=sys.stderr)
    if args.write_clean:
        with args.write_clean.open("w", encoding="utf-8") as fh:
            for row in kept:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return 0 if not report else 1


if __name__ == "__main__":
    raise SystemExit(main())
