"""Fit a LinearModel from featurised examples with scikit-learn's logistic regression."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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
    idf: bool = False,
    meta: dict[str, Any] | None = None,
) -> LinearModel:
    """``idf``: weigh each feature by its smoothed inverse document frequency (rare n-grams count
    more than ones every message has) instead of 1.0; rows are L2-normalised either way."""
    from scipy.sparse import csr_matrix

    feature_lists = [sorted(set(featurise(e))) for e in examples]
    counts: dict[str, int] = {}
    for feats in feature_lists:
        for f in feats:
            counts[f] = counts.get(f, 0) + 1
    vocabulary = {f: i for i, f in enumerate(sorted(f for f, n in counts.items() if n >= min_count))}
    feature_value = np.ones(len(vocabulary))
    if idf:
        frequency = np.array([counts[f] for f in vocabulary], dtype=np.float64)
        feature_value = np.log((1 + len(examples)) / (1 + frequency)) + 1.0
    rows, cols, values = [], [], []
    for r, feats in enumerate(feature_lists):
        kept = [vocabulary[f] for f in feats if f in vocabulary]
        kept_values = feature_value[kept]
        norm = 1.0 / np.sqrt(np.square(kept_values).sum()) if kept else 0.0
        rows.extend([r] * len(kept))
        cols.extend(kept)
        values.extend((kept_values * norm).tolist())
    matrix = csr_matrix((values, (rows, cols)), shape=(len(feature_lists), len(vocabulary)), dtype=np.float64)
    columns = _softmax_columns(matrix, labels, c, max_iter)
    classes = sorted(columns)
    return LinearModel(
        classes=classes,
        vocabulary=vocabulary,
        weights=np.stack([columns[k][0] for k in classes], axis=1).astype(np.float32),
        bias=np.array([columns[k][1] for k in classes], dtype=np.float32),
        meta={"features": len(vocabulary), "examples": len(examples), "C": c, "idf": idf, **(meta or {})},
        idf=feature_value.astype(np.float32) if idf else None,
    )


def _softmax_columns(
    matrix: Any, labels: Sequence[str], c: float, max_iter: int
) -> dict[str, tuple[np.ndarray, float]]:
    """One logistic-regression softmax: label → (weight column, bias)."""
    from sklearn.linear_model import LogisticRegression

    names = sorted(set(labels))
    clf = LogisticRegression(C=c, max_iter=max_iter)
    clf.fit(matrix, np.array([names.index(label) for label in labels]))
    coef, bias = clf.coef_, clf.intercept_
    if len(names) == 2:  # binary LR keeps one row; expand to two symmetric classes
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        bias = np.array([-bias[0] / 2, bias[0] / 2])
    return {name: (coef[j], float(bias[j])) for j, name in enumerate(names)}


def fit_heads(
    groups: Mapping[str, tuple[Sequence[Any], Sequence[str]]],
    featurise: Callable[[Any], list[str]],
    *,
    c: float = 4.0,
    max_iter: int = 2000,
    meta: dict[str, Any] | None = None,
) -> LinearModel:
    """Several independent softmax heads over one shared vocabulary, stored as one LinearModel.

    ``groups`` maps a head name to (examples, labels); the classes of head ``h`` are named ``h:label``
    and are meant to be read with ``LinearModel.probabilities(features, allowed=<that head's classes>)``.
    Every head sees the same L2 row normalisation (over the shared vocabulary) as at run time.
    """
    from scipy.sparse import csr_matrix

    feature_lists = {h: [sorted(set(featurise(e))) for e in ex] for h, (ex, _) in groups.items()}
    vocabulary = {
        f: i for i, f in enumerate(sorted({f for fl in feature_lists.values() for x in fl for f in x}))
    }
    classes: list[str] = []
    weight_cols: list[np.ndarray] = []
    biases: list[float] = []
    for head, (_, labels) in groups.items():
        rows, cols, values = [], [], []
        for r, feats in enumerate(feature_lists[head]):
            kept = [vocabulary[f] for f in feats]
            rows.extend([r] * len(kept))
            cols.extend(kept)
            values.extend([1.0 / np.sqrt(len(kept)) if kept else 0.0] * len(kept))
        matrix = csr_matrix((values, (rows, cols)), shape=(len(labels), len(vocabulary)), dtype=np.float64)
        for name, (column, bias) in _softmax_columns(matrix, labels, c, max_iter).items():
            classes.append(f"{head}:{name}")
            weight_cols.append(column)
            biases.append(bias)
    return LinearModel(
        classes=classes,
        vocabulary=vocabulary,
        weights=np.stack(weight_cols, axis=1).astype(np.float32),
        bias=np.array(biases, dtype=np.float32),
        meta={"features": len(vocabulary), "C": c, **(meta or {})},
    )
