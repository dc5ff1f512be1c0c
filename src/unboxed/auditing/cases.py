"""Stage 3a — the cases worth explaining: confident and right, confident and wrong, borderline."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .predictions import Predictions

KINDS = ("confident right", "confident wrong", "borderline")
UNLABELLED_KINDS = ("most confident", "borderline", "typical")


@dataclass
class Case:
    """One explained row: its index in the data, why it was chosen, and what the model said."""

    row: int
    kind: str
    predicted: int | float
    confidence: float | None = None
    label: int | float | None = None


def choose_cases(predictions: Predictions, per_kind: int) -> list[Case]:
    """Up to `per_kind` rows of each kind, each row once, in a fixed order (ties by row number).

    With labels: the most confident right predictions, the most confident wrong ones, and the
    smallest margins between the top two classes. Without labels: the most confident, the
    borderline, and the typical (median confidence). Regression: the largest errors, the
    smallest, and the typical predictions.

    >>> p = Predictions(outputs=np.zeros((4, 2)), predicted=np.array([0, 1, 1, 0]),
    ...                 probabilities=np.full((4, 2), 0.5), confidence=np.array([.9, .8, .55, .99]),
    ...                 margin=np.array([.8, .6, .1, .98]), labels=np.array([0, 0, 1, 0]))
    >>> [(c.row, c.kind) for c in choose_cases(p, 1)]
    [(3, 'confident right'), (1, 'confident wrong'), (2, 'borderline')]
    """
    n = len(predictions.predicted)
    order_rows = np.arange(n)
    chosen: list[Case] = []
    taken: set[int] = set()

    def add(kind: str, ranking: np.ndarray, allowed: np.ndarray | None = None):
        count = 0
        for row in ranking:
            if count == per_kind:
                break
            if row in taken or (allowed is not None and not allowed[row]):
                continue
            taken.add(int(row))
            chosen.append(_case(predictions, int(row), kind))
            count += 1

    if predictions.confidence is None:  # regression
        errors = np.abs(predictions.predicted - predictions.labels) if predictions.labels is not None else None
        if errors is not None:
            add("largest error", np.lexsort((order_rows, -errors)))
            add("smallest error", np.lexsort((order_rows, errors)))
        typical = np.abs(predictions.predicted - np.median(predictions.predicted))
        add("typical", np.lexsort((order_rows, typical)))
        return chosen
    confident = np.lexsort((order_rows, -predictions.confidence))
    borderline = np.lexsort((order_rows, predictions.margin))
    correct = predictions.correct
    if correct is None:
        add("most confident", confident)
        add("borderline", borderline)
        add("typical", np.lexsort((order_rows, np.abs(predictions.confidence - np.median(predictions.confidence)))))
        return chosen
    add("confident right", confident, correct)
    add("confident wrong", confident, ~correct)
    add("borderline", borderline)
    return chosen


def _case(predictions: Predictions, row: int, kind: str) -> Case:
    label = None if predictions.labels is None else predictions.labels[row].item()
    confidence = None if predictions.confidence is None else float(predictions.confidence[row])
    return Case(row=row, kind=kind, predicted=predictions.predicted[row].item(), confidence=confidence, label=label)
