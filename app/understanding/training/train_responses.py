"""Train the after-sales response model from the corpus's TRAIN split (open-task user messages).

python -m app.understanding.training.train_responses      (part of make train)
"""

from __future__ import annotations

from datetime import UTC, datetime

from app.understanding.corpus import load_rows, row_input
from app.understanding.lexicon import DEFAULT_RESPONSE_WORDS
from app.understanding.responses import MODEL_PATH, response_features
from app.understanding.training.fit import fit_linear


def main() -> int:
    rows = [r for r in load_rows(split="train") if r.get("open_task") and r["sender_role"] == "user"]
    items = [row_input(r) for r in rows]
    model = fit_linear(
        items,
        [str(r["after_sales_response"]) for r in rows],
        lambda m: response_features(m.text, m.context, DEFAULT_RESPONSE_WORDS),
        c=8.0,
        meta={
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "split": "train",
            "rows": len(rows),
        },
    )
    model.save(MODEL_PATH)
    print(f"已训练售后响应模型：{len(rows)} 条训练数据，{len(model.vocabulary)} 个特征 → {MODEL_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
