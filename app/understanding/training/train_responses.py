"""Train the after-sales response model from the corpus's TRAIN split (open-task user messages).

python -m app.understanding.training.train_responses      (part of make train)
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.understanding.corpus import load_rows, response_training_rows, row_input
from app.understanding.lexicon import DEFAULT_RESPONSE_WORDS
from app.understanding.linear import LinearModel
from app.understanding.responses import MODEL_PATH, response_features
from app.understanding.training.fit import fit_linear

# By 5-fold CV on train (training/cv.py folds), response / refusal F1: binary features C=16 0.945 / 0.956,
# C=64 0.949 / 0.956; IDF-weighted C=16 and C=64 0.958 / 0.971; with the response-only rows
# (corpus/chat_corpus_train_responses.jsonl) 0.962 / 0.978.
C = 64.0


def fit_response_model(
    rows: list[dict[str, Any]],
    response_only: list[dict[str, Any]] | None = None,
    meta: dict[str, Any] | None = None,
) -> LinearModel:
    """Fitted on the open-task user messages among `rows` plus the response-only training rows
    (by default all of corpus/chat_corpus_train_responses.jsonl)."""
    extra = response_training_rows() if response_only is None else response_only
    rows = [r for r in rows if r.get("open_task") and r["sender_role"] == "user"] + extra
    return fit_linear(
        [row_input(r) for r in rows],
        [str(r["after_sales_response"]) for r in rows],
        lambda m: response_features(m.text, m.context, DEFAULT_RESPONSE_WORDS),
        c=C,
        idf=True,
        meta=meta,
    )


def main() -> int:
    rows = load_rows(split="train")
    model = fit_response_model(
        rows,
        meta={
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "split": "train",
            "rows": len(rows),
        },
    )
    model.save(MODEL_PATH)
    from app.understanding.training import train_intervention

    train_intervention.main()  # make train runs this module last; the intervention heads come with it
    rows_used, features = model.meta["examples"], len(model.vocabulary)
    print(f"已训练售后响应模型：{rows_used} 条训练数据，{features} 个特征 → {MODEL_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
