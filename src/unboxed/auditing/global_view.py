"""Stage 2 — the global view: which inputs the model relies on over the whole data set.

Tables: permutation importance (how much the score drops when a column is shuffled) and the mean
|Shapley value| of each column over a sample of rows. Images: the mean |Shapley value| of each
cell of a regular grid, a map of where in the frame the model looks (a corner lighting up is a
shortcut's signature). Texts: the words with the largest mean |Shapley value|.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..explanation import FeatureAttribution, FeatureImportance
from ..maskers import ImageMasker, TabularMasker
from ..taxonomy import get_method
from .plan import AuditSettings
from .subject import Subject

GRID = (8, 8)
TOP_WORDS = 20


@dataclass
class GlobalView:
    """`importance`: one row per feature (tabular: permutation importance and its spread, mean
    |Shapley|; text: words; images: grid cells) sorted by the main measure; `grid` (rows, cols)
    the image map; `rows` how many rows were used and `notes` what was left out."""

    importance: pd.DataFrame
    measure: str
    grid: np.ndarray | None = None
    rows: int = 0
    notes: list[str] = field(default_factory=list)


def global_view(subject: Subject, settings: AuditSettings, sample_rows: np.ndarray) -> GlobalView:
    """Compute the global view on `subject` (mean |Shapley| over `sample_rows`)."""
    if subject.layout == "tabular":
        return _tabular(subject, settings, sample_rows)
    if subject.layout == "image":
        return _image(subject, settings, sample_rows)
    if subject.layout == "text":
        return _text(subject, settings, sample_rows)
    shapley = _mean_abs_shapley(subject, settings, sample_rows, masker=None)
    frame = pd.DataFrame({"feature": shapley.names_of(0), "mean |shapley|": np.abs(shapley.values).mean(0)})
    frame = frame.sort_values("mean |shapley|", ascending=False, kind="stable").reset_index(drop=True)
    return GlobalView(frame, "mean |shapley|", rows=len(sample_rows))


def _tabular(subject: Subject, settings: AuditSettings, sample_rows: np.ndarray) -> GlobalView:
    names = subject.feature_names or [f"x{i}" for i in range(subject.inputs.shape[1])]
    notes = []
    frame = pd.DataFrame({"feature": names})
    measure = "mean |shapley|"
    if subject.task == "classification" or subject.labels is not None:
        metric = "neg_log_loss" if subject.task == "classification" else "r2"  # log-loss: finer than accuracy on few rows
        importance: FeatureImportance = get_method("permutation_importance")(
            subject.model, metric=metric, n_repeats=10, seed=settings.seed).explain(subject.inputs, labels=subject.labels)
        frame["permutation importance"] = importance.importances
        frame["permutation std"] = importance.stds
        measure = "permutation importance"
        if subject.labels is None:
            notes.append("no labels: permutation importance compares with the model's own predictions")
    masker = TabularMasker(subject.background, feature_names=names) if subject.background is not None else None
    shapley = _mean_abs_shapley(subject, settings, sample_rows, masker)
    frame["mean |shapley|"] = np.abs(shapley.values).mean(0)
    if masker is None:
        notes.append("no background rows: Shapley values remove features by the data's column means")
    frame = frame.sort_values(measure, ascending=False, kind="stable").reset_index(drop=True)
    return GlobalView(frame, measure, rows=len(sample_rows), notes=notes)


def _image(subject: Subject, settings: AuditSettings, sample_rows: np.ndarray) -> GlobalView:
    masker = ImageMasker(segmentation="grid", grid=GRID, fill=0.0)
    shapley = _mean_abs_shapley(subject, settings, sample_rows, masker)
    grid = np.abs(shapley.values).mean(0).reshape(GRID)
    cells = [f"row {r + 1}, column {c + 1}" for r in range(GRID[0]) for c in range(GRID[1])]
    frame = pd.DataFrame({"feature": cells, "mean |shapley|": grid.ravel()})
    frame = frame.sort_values("mean |shapley|", ascending=False, kind="stable").reset_index(drop=True)
    return GlobalView(frame, "mean |shapley|", grid=grid, rows=len(sample_rows),
                      notes=[f"the image is cut into a {GRID[0]}x{GRID[1]} grid; a removed cell is filled with 0"])


def _text(subject: Subject, settings: AuditSettings, sample_rows: np.ndarray) -> GlobalView:
    shapley = _mean_abs_shapley(subject, settings, sample_rows, masker=None)
    totals, counts = defaultdict(float), defaultdict(int)
    for row in range(len(shapley)):
        for word, value in zip(shapley.names_of(row), np.abs(shapley.values[row])):
            totals[word.lower()] += float(value)
            counts[word.lower()] += 1
    frame = pd.DataFrame({"feature": list(totals), "mean |shapley|": [totals[w] / counts[w] for w in totals],
                          "rows with it": [counts[w] for w in totals]})
    frame = frame[frame["rows with it"] >= 2] if (frame["rows with it"] >= 2).sum() >= 5 else frame
    frame = frame.sort_values("mean |shapley|", ascending=False, kind="stable").head(TOP_WORDS).reset_index(drop=True)
    return GlobalView(frame, "mean |shapley|", rows=len(sample_rows),
                      notes=["words that occur in at least two sampled texts, when enough do"])


def _mean_abs_shapley(subject: Subject, settings: AuditSettings, rows: np.ndarray, masker: Any) -> FeatureAttribution:
    inputs = subject.inputs[torch.as_tensor(rows)] if isinstance(subject.inputs, torch.Tensor) else [subject.inputs[r] for r in rows]
    options: dict[str, Any] = {"n_samples": settings.resolved_budget(subject.layout), "seed": settings.seed}
    if masker is not None:
        options["masker"] = masker
    return get_method("kernel_shap")(subject.model, **options).explain(inputs)
