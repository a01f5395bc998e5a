"""Fit a LinearModel from featurised examples with scikit-learn's logistic regression."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from app.understanding.linear import LinearModel


def fit_linear(
    examples: Sequence[Any],
    labels: Sequence[str],
    featurise: Callable[[Any], list[str]],
    *,
    c: float = 4.0,
    min_count: int = 1,
    max_iter: int = 2000,
    meta: dict[str, Any] | None = None,
) -> LinearModel:
    from scipy.sparse import csr_matrix
    from sklearn.linear_model import LogisticRegression

    feature_lists = [sorted(set(featurise(e))) for e in examples]
    counts: dict[str, int] = {}
    for feats in feature_lists:
        for f in feats:
            counts[f] = counts.get(f, 0) + 1
    vocabulary = {f: i for i, f in enumerate(sorted(f for f, n in counts.items() if n >= min_count))}
    rows, cols, values = [], [], []
    for r, feats in enumerate(feature_lists):
        kept = [vocabulary[f] for f in feats if f in vocabulary]
        norm = 1.0 / np.sqrt(len(kept)) if kept else 0.0
        rows.extend([r] * len(kept))
        cols.extend(kept)
        values.extend([norm] * len(kept))
    matrix = csr_matrix((values, (rows, cols)), shape=(len(feature_lists), len(vocabulary)), dtype=np.float64)
    classes = sorted(set(labels))
    y = np.array([classes.index(label) for label in labels])
    clf = LogisticRegression(C=c, max_iter=max_iter)
    clf.fit(matrix, y)
    coef = clf.coef_
    bias = clf.intercept_
    if len(classes) == 2:  # binary LR keeps one row; expand to two symmetric classes
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        bias = np.array([-bias[0] / 2, bias[0] / 2])
    return LinearModel(
        classes=classes,
        vocabulary=vocabulary,
        weights=coef.T.astype(np.float32),
        bias=bias.astype(np.float32),
        meta={"features": len(vocabulary), "examples": len(examples), "C": c, **(meta or {})},
    )
