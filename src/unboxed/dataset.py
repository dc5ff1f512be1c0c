"""Dataset: inputs to explain and what is known about them (labels, names, how to show them, where they came from)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

LAYOUTS = ("tabular", "image", "text", "sequence")


@dataclass
class Dataset:
    """Inputs in the model's own format, and what the audit and the pictures need to know about them.

    `inputs`: a tensor (rows of a table, images (n, c, h, w), sequences) or a list of texts.
    `labels`: class indices (long) or target values (float, regression), or None when unknown.
    `categories`: for tabular data, each categorical column's category names; the column holds
    codes 0..k-1 into that list. `display` maps inputs to RGB images in [0, 1] (n, h, w, 3) for
    pictures. `skipped` lists what could not be read (a file or row, and why), so a report can say it.

    >>> data = Dataset(torch.zeros(3, 2), "tabular", labels=torch.tensor([0, 1, 1]), feature_names=["a", "b"])
    >>> len(data), data.n_features, data.class_counts()
    (3, 2, {0: 1, 1: 2})
    """

    inputs: torch.Tensor | list[str]
    layout: str
    labels: torch.Tensor | None = None
    feature_names: list[str] | None = None
    class_names: list[str] | None = None
    sample_names: list[str] | None = None
    categories: dict[str, list[str]] = field(default_factory=dict)
    display: Callable[[torch.Tensor], np.ndarray] | None = None
    source: str = ""
    target_name: str | None = None
    skipped: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {self.layout!r}")

    def __len__(self) -> int:
        return len(self.inputs)

    @property
    def n_features(self) -> int | None:
        """Columns of a table (None for other layouts)."""
        return int(self.inputs.shape[1]) if self.layout == "tabular" else None

    def class_counts(self) -> dict[int, int]:
        """How many rows carry each class label (empty without labels or for regression)."""
        if self.labels is None or self.labels.is_floating_point():
            return {}
        values, counts = np.unique(self.labels.cpu().numpy(), return_counts=True)
        return {int(v): int(c) for v, c in zip(values, counts)}

    def take(self, rows) -> "Dataset":
        """The same data set restricted to `rows` (indices), labels and names along."""
        rows = [int(r) for r in rows]
        inputs = self.inputs[rows] if isinstance(self.inputs, torch.Tensor) else [self.inputs[r] for r in rows]
        return Dataset(
            inputs=inputs, layout=self.layout, labels=None if self.labels is None else self.labels[rows],
            feature_names=self.feature_names, class_names=self.class_names,
            sample_names=None if self.sample_names is None else [self.sample_names[r] for r in rows],
            categories=self.categories, display=self.display, source=self.source, target_name=self.target_name,
            skipped=self.skipped, facts=self.facts,
        )
