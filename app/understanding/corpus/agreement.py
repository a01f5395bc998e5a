"""How consistently the label guide can be applied: independent labels vs the corpus's own.

    python -m app.understanding.corpus.agreement

`agreement.jsonl` holds labels for random TRAIN rows written by annotators who saw only each row's
text, sender role, open-task flag and context plus the label guide (README.md), never the corpus's
labels, the models or their predictions. Agreement with the corpus labels is the accuracy a careful
reader reaches under the guide: a yardstick for a classifier scored against those labels.
Held-out rows are never part of the study.
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from app.understanding.corpus import CORPUS_PATH, read_jsonl
from app.understanding.metrics import accuracy
from app.understanding.types import CATEGORY_OF_ROLE

AGREEMENT_PATH = Path(__file__).parent / "agreement.jsonl"


def cohen_kappa(pairs: list[tuple[str, str]]) -> float:
    n = len(pairs)
    observed = sum(a == b for a, b in pairs) / n
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    expected = sum(first[label] * second[label] for label in first) / (n * n)
    return (observed - expected) / (1 - expected) if expected < 1 else 1.0


def study(independent: list[dict[str, Any]], corpus: list[dict[str, Any]]) -> dict[str, Any]:
    gold = {row["id"]: row for row in corpus}
    rows = [(label, gold[label["id"]]) for label in independent]
    if any(row["split"] != "train" for _, row in rows):
        raise SystemExit("agreement.jsonl must only hold train rows")
    by_category: dict[str, list[bool]] = defaultdict(list)
    by_annotator: dict[str, list[bool]] = defaultdict(list)
    for label, row in rows:
        same = label["type"] == row["type"]
        by_category[CATEGORY_OF_ROLE.get(row["sender_role"], "user")].append(same)
        by_annotator[label["annotator"]].append(same)
    corpus_types, their_types = [row["type"] for _, row in rows], [label["type"] for label, _ in rows]
    return {
        "rows": len(rows),
        "type": accuracy(corpus_types, their_types),
        "type_kappa": cohen_kappa(list(zip(their_types, corpus_types, strict=True))),
        "sentiment": accuracy(
            [row["sentiment"] for _, row in rows], [label["sentiment"] for label, _ in rows]
        ),
        "by_category": {k: (sum(v) / len(v), len(v)) for k, v in sorted(by_category.items())},
        "by_annotator": {k: (sum(v) / len(v), len(v)) for k, v in sorted(by_annotator.items())},
        "confusions": Counter((c, t) for c, t in zip(corpus_types, their_types, strict=True) if c != t),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="标注一致性：独立标注与语料标签的对比（仅训练集）")
    parser.add_argument("--confusions", type=int, default=12)
    args = parser.parse_args(argv)
    report = study(read_jsonl(AGREEMENT_PATH), read_jsonl(CORPUS_PATH))
    print(
        f"{report['rows']} train rows labelled independently: type agreement {report['type']:.3f} "
        f"(Cohen's κ {report['type_kappa']:.3f}), sentiment agreement {report['sentiment']:.3f}"
    )
    for category, (share, n) in report["by_category"].items():
        print(f"  {category:<9} type agreement {share:.3f}  n={n}")
    for annotator, (share, n) in report["by_annotator"].items():
        print(f"  annotator {annotator}  type agreement {share:.3f}  n={n}")
    print("  corpus label → independent label:")
    for (corpus_type, other), n in report["confusions"].most_common(args.confusions):
        print(f"  {n:>3}  {corpus_type} → {other}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
