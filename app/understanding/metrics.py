"""Classification metrics without third-party dependencies."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ClassScores:
    label: str
    precision: float
    recall: float
    f1: float
    support: int


def f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def per_class(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> list[ClassScores]:
    pairs = Counter(zip(gold, predicted, strict=True))
    gold_counts = Counter(gold)
    pred_counts = Counter(predicted)
    scores = []
    for label in labels:
        tp = pairs[(label, label)]
        p = tp / pred_counts[label] if pred_counts[label] else 0.0
        r = tp / gold_counts[label] if gold_counts[label] else 0.0
        scores.append(ClassScores(label, p, r, f1(p, r), gold_counts[label]))
    return scores


def accuracy(gold: Sequence[str], predicted: Sequence[str]) -> float:
    return sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold) if gold else 0.0


def macro_f1(scores: list[ClassScores]) -> float:
    present = [s for s in scores if s.support]
    return sum(s.f1 for s in present) / len(present) if present else 0.0


def confusion(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> list[list[int]]:
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for g, p in zip(gold, predicted, strict=True):
        matrix[index[g]][index[p]] += 1
    return matrix


def binary_scores(gold: Sequence[bool], predicted: Sequence[bool]) -> ClassScores:
    tp = sum(g and p for g, p in zip(gold, predicted, strict=True))
    p_count, g_count = sum(predicted), sum(gold)
    precision = tp / p_count if p_count else 0.0
    recall = tp / g_count if g_count else 0.0
    return ClassScores("positive", precision, recall, f1(precision, recall), g_count)
