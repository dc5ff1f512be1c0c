"""Tabular masker: a removed column takes its values from a background data set (or a fixed value)."""
from __future__ import annotations

import numbers
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ..errors import InputError
from ..validation import as_tensor, check_choice
from .base import Features, Masker

FILLS = ("background", "mean", "median")


class TabularMasker(Masker):
    """Remove table columns by replacing them with background values.

    - `background`: a data set (B, d), e.g. training rows. With `fill="background"` a coalition's
      value is the mean score over all B rows with the removed columns taken from each
      (interventional Shapley values; SHAP's independent masker); `"mean"` / `"median"` replace
      them by the background's column mean / median (one model input per coalition).
    - `fill`: one of those, or a number or one value per column (then no background is needed).
    - `max_background`: keep at most this many background rows, drawn with `seed` (cost grows
      linearly with them).
    - `groups`: columns that act as one feature: a list of column lists, or {name: columns};
      columns may be indices or names from `feature_names`. Columns in no group stay single.
    - `feature_names`: one name per column.

    >>> import numpy as np
    >>> masker = TabularMasker(np.array([[0.0, 0.0], [2.0, 4.0]]), fill="mean")
    >>> x = masker.check(np.array([[5.0, 7.0]]))
    >>> f = masker.features(x)
    >>> masker.mask(x, f, torch.tensor([0]), torch.tensor([[True, False]])).tolist()
    [[5.0, 2.0]]
    """

    kind = "tabular"

    def __init__(
        self,
        background: Any = None,
        fill: str | float | Sequence[float] = "background",
        max_background: int | None = None,
        groups: Sequence[Sequence[int | str]] | Mapping[str, Sequence[int | str]] | None = None,
        feature_names: Sequence[str] | None = None,
        seed: int | None = 0,
    ):
        self.feature_names = list(feature_names) if feature_names is not None else None
        self.fill, self.max_background, self.seed = fill, max_background, seed
        self.groups = groups
        if isinstance(fill, str):
            check_choice(fill, "fill", FILLS)
            if background is None:
                raise InputError(f"fill={fill!r} needs a background data set (rows like the inputs, e.g. training data)")
            rows = as_tensor(background, "background")
            if rows.ndim != 2:
                raise InputError(f"background must be a table (rows, columns); got shape {tuple(rows.shape)}")
            if max_background is not None and len(rows) > max_background:
                generator = torch.Generator().manual_seed(seed if seed is not None else 0)
                rows = rows[torch.randperm(len(rows), generator=generator)[:max_background].sort().values]
            if fill == "mean":
                rows = rows.mean(0, keepdim=True)
            elif fill == "median":
                rows = rows.median(0, keepdim=True).values
            self.background = rows
        else:
            value = as_tensor(np.atleast_1d(np.asarray(fill, dtype=float)), "fill")
            self.background = value[None] if value.ndim == 1 else value
        self.n_background = len(self.background)

    @property
    def n_columns(self) -> int | None:
        """Columns the inputs must have (None: a single fill value suits any width)."""
        return None if isinstance(self.fill, numbers.Real) else self.background.shape[1]

    def check(self, inputs: Any) -> torch.Tensor:
        tensor = as_tensor(inputs, "inputs")
        if tensor.ndim != 2:
            raise InputError(f"tabular inputs must be a table (rows, columns); got shape {tuple(tensor.shape)}")
        columns = self.n_columns
        if columns is not None and tensor.shape[1] != columns:
            raise InputError(
                f"the masker's background has {columns} columns but the inputs have {tensor.shape[1]}: "
                "give background rows with the same columns as the inputs"
            )
        if self.feature_names is not None and len(self.feature_names) != tensor.shape[1]:
            raise InputError(f"{len(self.feature_names)} feature names for {tensor.shape[1]} columns")
        return tensor

    def features(self, inputs: torch.Tensor) -> Features:
        n_columns = inputs.shape[1]
        names = self.feature_names or [f"x{j}" for j in range(n_columns)]
        segments, feature_names = self._segments(n_columns, names)
        counts = np.full(len(inputs), len(feature_names))
        segments = segments.to(inputs.device).expand(len(inputs), n_columns)
        return Features(counts=counts, names=feature_names, segments=segments)

    def _segments(self, n_columns: int, names: list[str]) -> tuple[torch.Tensor, list[str]]:
        """Feature index of every column, and the feature names (groups first-come order)."""
        if self.groups is None:
            return torch.arange(n_columns), list(names)
        groups = self.groups.items() if isinstance(self.groups, Mapping) else [(None, g) for g in self.groups]
        owner = [-1] * n_columns
        labels: list[str] = []
        for label, columns in groups:
            indices = [self._column(c, names) for c in columns]
            if not indices:
                raise InputError("a feature group must name at least one column")
            for index in indices:
                if owner[index] != -1:
                    raise InputError(f"column {names[index]!r} is in two feature groups")
                owner[index] = len(labels)
            labels.append(label if label is not None else "+".join(names[i] for i in indices))
        # Columns in no group are features of their own, placed after the groups.
        for index in range(n_columns):
            if owner[index] == -1:
                owner[index] = len(labels)
                labels.append(names[index])
        return torch.tensor(owner), labels

    @staticmethod
    def _column(column: int | str, names: list[str]) -> int:
        if isinstance(column, str):
            if column not in names:
                raise InputError(f"feature group names column {column!r}, which is not among the feature names")
            return names.index(column)
        if not 0 <= int(column) < len(names):
            raise InputError(f"feature group names column {column}, but the inputs have {len(names)} columns")
        return int(column)

    def mask(self, inputs: torch.Tensor, features: Features, rows: torch.Tensor, keep: torch.Tensor,
             out: torch.Tensor | None = None) -> torch.Tensor:
        # (m, columns), 0 or 1; without groups feature j is column j
        columns = keep if self.groups is None else keep.gather(1, features.segments[rows])
        keep_columns = columns.to(inputs.dtype)
        background = self.background.to(inputs)
        shape = (len(rows), self.n_background, inputs.shape[1])
        size = shape[0] * shape[1] * shape[2]
        fits = out is not None and out.is_contiguous() and out.numel() >= size and out.dtype == inputs.dtype
        # written over the last batch when it fits: for a small model, fresh memory per batch costs
        # as much as the masking; lerp is exact at weights 0 and 1 and faster than a broadcast where
        masked = torch.lerp(background[None], inputs[rows][:, None, :], keep_columns[:, None, :],
                            out=out.view(-1)[:size].view(shape) if fits else None)
        return masked.view(-1, inputs.shape[1])

    def describe(self) -> dict[str, Any]:
        return {"masker": "tabular", "fill": self.fill if isinstance(self.fill, str) else "value",
                "background_rows": self.n_background, "groups": None if self.groups is None else len(self.groups)}
