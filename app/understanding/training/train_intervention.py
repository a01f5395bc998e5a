"""Train the two intervention heads from the corpus's TRAIN split (part of ``make train``).

    python -m app.understanding.training.train_intervention

- ``own``: among ``chat_inquiry`` rows, is the question about the user's own money / contract / account
  (label ``intervention_reason == low_confidence``)?
- ``distrust``: among ``chat_complain_discuss`` rows, does it spread distrust or rally others
  (``intervention_reason == complaint``)?

C (16) and the thresholds in ``intervention.HEADS`` were chosen by 5-fold cross-validation on the train
split (corpus train rows scored, extra rows always trained on). The TEST split is never read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.understanding.corpus import load_rows
from app.understanding.intervention import MODEL_PATH, head_features
from app.understanding.linear import LinearModel
from app.understanding.training.fit import fit_heads

C = 16.0
HEAD_ROWS = {"own": ("chat_inquiry", "low_confidence"), "distrust": ("chat_complain_discuss", "complaint")}


def fit_intervention_model(rows: list[dict[str, Any]], meta: dict[str, Any] | None = None) -> LinearModel:
    groups = {}
    for head, (type_code, reason) in HEAD_ROWS.items():
        chosen = [r for r in rows if r["type"] == type_code]
        groups[head] = (
            [(head, str(r["text"])) for r in chosen],
            ["yes" if r["intervention_reason"] == reason else "no" for r in chosen],
        )
    return fit_heads(groups, lambda item: head_features(*item), c=C, meta=meta)


def main() -> int:
    rows = load_rows(split="train")
    assert all(r["split"] == "train" for r in rows)
    model = fit_intervention_model(
        rows,
        {"trained_at": datetime.now(UTC).isoformat(timespec="seconds"), "split": "train", "rows": len(rows)},
    )
    model.save(MODEL_PATH)
    print(f"已训练介入判断模型：{len(model.vocabulary)} 个特征 → {MODEL_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
