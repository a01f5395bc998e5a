"""`make eval`: message understanding measured on the corpus's held-out TEST split.

Prints per-class precision / recall / F1, accuracy, macro-F1 and a confusion matrix for the 15
types; sentiment accuracy and negative F1; after-sales response/refusal precision and recall;
intervention-needed F1; and the sentiment comparison with snownlp on held-out public reviews.
Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from app.understanding.classifier import classify, compile_lexicons, load_type_model
from app.understanding.corpus import load_rows, row_input
from app.understanding.intervention import judge
from app.understanding.lexicon import DEFAULT_LEXICONS, DEFAULT_RESPONSE_WORDS
from app.understanding.metrics import accuracy, binary_scores, confusion, macro_f1, per_class
from app.understanding.responses import detect_response
from app.understanding.sentiment_gateway import analyse_sentiment
from app.understanding.types import MESSAGE_TYPES, SENTIMENT_LABELS

TARGETS = {
    "type_accuracy": 0.93,
    "type_macro_f1": 0.90,
    "sentiment_accuracy": 0.90,
    "response_f1": 0.95,
    "refusal_f1": 0.95,
    "intervention_f1": 0.90,
}


def run_corpus(rows: list[dict[str, Any]]) -> dict[str, Any]:
    lexicons = compile_lexicons(DEFAULT_LEXICONS)
    model = load_type_model()
    if model is None:
        raise SystemExit("没有类型模型：先运行 make train")
    gold_types, pred_types, gold_sent, pred_sent = [], [], [], []
    gold_resp, pred_resp, gold_need, pred_need = [], [], [], []
    started = time.perf_counter()
    for row in rows:
        item = row_input(row)
        result = classify(item, lexicons, model)
        sentiment = analyse_sentiment(item.text, item.sender_role)
        response, _ = detect_response(
            item.text,
            item.open_task and item.sender_role == "user",
            DEFAULT_RESPONSE_WORDS,
            item.context,
            result.type,
        )
        need = judge(item.sender_role, result, sentiment, response, item.context, item.open_task, item.text)
        gold_types.append(row["type"])
        pred_types.append(result.type)
        gold_sent.append(row["sentiment"])
        pred_sent.append(sentiment.label)
        gold_resp.append(row["after_sales_response"])
        pred_resp.append(response)
        gold_need.append(bool(row["intervention_needed"]))
        pred_need.append(need.needed)
    elapsed = time.perf_counter() - started
    labels = [t.code for t in MESSAGE_TYPES]
    type_scores = per_class(gold_types, pred_types, labels)
    sent_scores = per_class(gold_sent, pred_sent, list(SENTIMENT_LABELS))
    resp_scores = per_class(gold_resp, pred_resp, ["response", "refusal", "none"])
    return {
        "rows": len(rows),
        "seconds": elapsed,
        "labels": labels,
        "type_scores": type_scores,
        "type_accuracy": accuracy(gold_types, pred_types),
        "type_macro_f1": macro_f1(type_scores),
        "confusion": confusion(gold_types, pred_types, labels),
        "sentiment_accuracy": accuracy(gold_sent, pred_sent),
        "sentiment_scores": sent_scores,
        "negative_f1": sent_scores[0].f1,
        "response_scores": resp_scores,
        "response_f1": resp_scores[0].f1,
        "refusal_f1": resp_scores[1].f1,
        "intervention": binary_scores(gold_need, pred_need),
        "intervention_f1": binary_scores(gold_need, pred_need).f1,
        "errors": [
            (r["id"], r["text"], g, p) for r, g, p in zip(rows, gold_types, pred_types, strict=True) if g != p
        ],
    }


def format_corpus(report: dict[str, Any], show_errors: int) -> str:
    speed = report["rows"] / report["seconds"]
    lines = [
        f"留出测试集：{report['rows']} 条消息（{speed:,.0f} 条/秒，含情绪与介入判断）",
        "",
        "消息类型          precision  recall     F1  support",
    ]
    for s in report["type_scores"]:
        lines.append(f"{s.label:<24}{s.precision:>7.3f}{s.recall:>8.3f}{s.f1:>7.3f}{s.support:>9}")
    lines.append(f"accuracy {report['type_accuracy']:.3f}   macro-F1 {report['type_macro_f1']:.3f}")
    lines += ["", "混淆矩阵（行 = 标注，列 = 预测；列序同行序编号）"]
    labels = report["labels"]
    lines.append("    " + "".join(f"{i:>4}" for i in range(len(labels))))
    for i, row in enumerate(report["confusion"]):
        lines.append(f"{i:>2}  " + "".join(f"{v:>4}" if v else "   ." for v in row) + f"  {labels[i]}")
    lines += ["", f"情绪：accuracy {report['sentiment_accuracy']:.3f}，负面 F1 {report['negative_f1']:.3f}"]
    for s in report["sentiment_scores"]:
        lines.append(f"  {s.label:<10} P {s.precision:.3f}  R {s.recall:.3f}  F1 {s.f1:.3f}  n={s.support}")
    lines.append("售后响应检测：")
    for s in report["response_scores"]:
        lines.append(f"  {s.label:<10} P {s.precision:.3f}  R {s.recall:.3f}  F1 {s.f1:.3f}  n={s.support}")
    iv = report["intervention"]
    lines.append(f"需要介入：P {iv.precision:.3f}  R {iv.recall:.3f}  F1 {iv.f1:.3f}  n={iv.support}")
    if show_errors:
        lines += ["", f"类型错误示例（前 {show_errors} 条）："]
        lines += [f"  {i} 「{t}」 标注 {g} → 预测 {p}" for i, t, g, p in report["errors"][:show_errors]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="在留出测试集上评估消息理解")
    parser.add_argument("--errors", type=int, default=0, help="列出前 N 条类型判断错误")
    parser.add_argument("--skip-public", action="store_true", help="跳过与 snownlp 的公开数据对比")
    args = parser.parse_args(argv)
    report = run_corpus(load_rows(split="test"))
    print(format_corpus(report, args.errors))
    figures = {key: report[key] for key in TARGETS}
    if not args.skip_public:
        from app.understanding import eval_sentiment

        comparison = eval_sentiment.public_comparison()
        print()
        print(eval_sentiment.format_report(None, comparison))
    print("\n目标：")
    missed = 0
    for key, target in TARGETS.items():
        ok = figures[key] >= target
        missed += not ok
        print(f"  {'✔' if ok else '✘'} {key} = {figures[key]:.3f}（目标 ≥ {target}）")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
