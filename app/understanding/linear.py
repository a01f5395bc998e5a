"""Run-time linear model (multinomial logistic regression over sparse binary features).

Weights live in a compressed .npz next to this package: vocabulary, weight matrix, bias,
class names and metadata. Loading takes milliseconds and needs only NumPy.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np


@dataclass
class LinearModel:
    classes: list[str]
    vocabulary: dict[str, int]
    weights: np.ndarray  # (n_features, n_classes), float32
    bias: np.ndarray  # (n_classes,)
    meta: dict[str, Any]
    # Per-feature value (inverse document frequency) instead of 1.0; None = binary features.
    idf: np.ndarray | None = None

    def __post_init__(self) -> None:
        self._columns: dict[tuple[str, ...] | None, tuple[np.ndarray, list[str]]] = {}
        if self.idf is None:
            self._scaled = self.weights
        else:
            # Weights times IDF, plus a last column of IDF² for the message's norm: one gather per message.
            self._scaled = np.hstack([self.weights * self.idf[:, None], np.square(self.idf)[:, None]])

    def scores(self, features: list[str]) -> np.ndarray:
        found = set(map(self.vocabulary.get, features))  # one C-level dict probe per feature
        found.discard(None)
        if not found:
            return self.bias.copy()
        rows = np.fromiter(found, dtype=np.intp, count=len(found))
        summed = self._scaled[rows].sum(axis=0)
        # Feature values L2-normalised per message, like at training time.
        if self.idf is None:
            return summed / np.sqrt(len(rows)) + self.bias
        return summed[:-1] / np.sqrt(summed[-1]) + self.bias

    def _allowed_columns(self, allowed: tuple[str, ...] | None) -> tuple[np.ndarray, list[str]]:
        cached = self._columns.get(allowed)
        if cached is None:
            names = [c for c in self.classes if allowed is None or c in allowed]
            cached = self._columns[allowed] = (np.array([self.classes.index(c) for c in names]), names)
        return cached

    def probabilities(self, features: list[str], allowed: tuple[str, ...] | None = None) -> dict[str, float]:
        columns, names = self._allowed_columns(allowed)
        raw = self.scores(features)[columns].tolist()  # a few classes: plain floats beat NumPy here
        top = max(raw)
        shifted = [math.exp(value - top) for value in raw]
        total = sum(shifted)
        return {name: value / total for name, value in zip(names, shifted, strict=True)}

    def save(self, path: Path | IO[bytes]) -> None:
        vocab = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        arrays: dict[str, Any] = {
            "vocabulary": np.array(vocab, dtype=object),
            "weights": self.weights.astype(np.float32),
            "bias": self.bias.astype(np.float32),
            "classes": np.array(self.classes, dtype=object),
            "meta": np.array(json.dumps(self.meta, ensure_ascii=False)),
        }
        if self.idf is not None:
            arrays["idf"] = self.idf.astype(np.float32)
        np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path: Path | IO[bytes]) -> LinearModel:
        with np.load(path, allow_pickle=True) as data:
            vocab = [str(v) for v in data["vocabulary"]]
            return cls(
                classes=[str(c) for c in data["classes"]],
                vocabulary={v: i for i, v in enumerate(vocab)},
                weights=np.asarray(data["weights"], dtype=np.float32),
                bias=np.asarray(data["bias"], dtype=np.float32),
                meta=json.loads(str(data["meta"])),
                idf=np.asarray(data["idf"], dtype=np.float32) if "idf" in data else None,
            )
