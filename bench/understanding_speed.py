"""Speed of the rules + model path of message understanding, on one core.

    .venv/bin/python bench/understanding_speed.py [--rounds 5]

Runs classification (lexicons + type model), sentiment, after-sales response detection and the
intervention judgement for every corpus message, several rounds, and reports messages per second
and per-message latency percentiles. Targets: ≥ 5,000 messages/s and p99 ≤ 2 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.understanding.classifier import classify, compile_lexicons, load_type_model
from app.understanding.corpus import load_rows, row_input
from app.understanding.intervention import judge
from app.understanding.lexicon import DEFAULT_LEXICONS, DEFAULT_RESPONSE_WORDS
from app.understanding.responses import detect_response
from app.understanding.sentiment_gateway import analyse_sentiment
from app.understanding.textfeatures import forget_features


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    t0 = time.perf_counter()
    model = load_type_model()
    analyse_sentiment("预热")
    load_seconds = time.perf_counter() - t0
    lexicons = compile_lexicons(DEFAULT_LEXICONS)
    items = [row_input(r) for r in load_rows()]
    timings: list[float] = []
    started = time.perf_counter()
    for _ in range(args.rounds):
        for item in items:
            t = time.perf_counter()
            result = classify(item, lexicons, model)
            sentiment = analyse_sentiment(item.text, item.sender_role)
            response, _ = detect_response(
                item.text, item.open_task, DEFAULT_RESPONSE_WORDS, item.context, result.type
            )
            judge(item.sender_role, result, sentiment, response, item.context, item.open_task, item.text)
            timings.append(time.perf_counter() - t)
            # Only the sharing within one message counts: no text is ever seen twice here.
            forget_features()
    total = time.perf_counter() - started
    ms = [t * 1000 for t in timings]
    print(f"models loaded in {load_seconds:.2f} s")
    print(f"{len(timings)} messages in {total:.2f} s → {len(timings) / total:,.0f} messages/s (one core)")
    print(
        f"per message: mean {statistics.mean(ms):.3f} ms, p50 {percentile(ms, 0.5):.3f} ms, "
        f"p95 {percentile(ms, 0.95):.3f} ms, p99 {percentile(ms, 0.99):.3f} ms, max {max(ms):.3f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
