"""Masker: how a feature is removed. Every perturbation method (occlusion-style ablation, LIME,
LEMNA, Shapley values) asks a masker for the model inputs of a coalition, and never cares whether
the features are table columns, superpixels or words.

A masker turns rows plus a boolean "keep" matrix (one row per coalition, one column per
interpretable feature) into model inputs. Rows may have different numbers of features (an image's
superpixels, a sentence's words): every row is padded to the widest, and the padding features are
dummies that change nothing, so Shapley values and surrogate fits are unaffected by them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch


@dataclass
class Features:
    """The interpretable features of some rows.

    `counts[i]` is how many real features row i has (columns past it are padding); `names` one
    list of names per row (or one list shared by all rows); `segments` (rows, ...) maps every
    input element of a row to its feature index (columns of a table, pixels (H, W) of an image;
    None for text);
    `state` is what the masker needs to rebuild inputs (fill values, token lists).
    """

    counts: np.ndarray
    names: list[list[str]] | list[str] | None = None
    segments: torch.Tensor | None = None
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def width(self) -> int:
        """Features per coalition row: the largest count."""
        return int(self.counts.max())

    def names_of(self, row: int) -> list[str]:
        if self.names is None:
            return [f"feature {j}" for j in range(int(self.counts[row]))]
        if self.names and isinstance(self.names[0], str):
            return list(self.names)
        return list(self.names[row])


class Masker:
    """Base of maskers. Subclasses implement `check`, `features` and `mask`.

    `n_background` is how many model inputs one coalition expands into (the rows of a background
    data set the removed features are drawn from); the coalition's value is their mean score.
    """

    kind = "tensor"
    n_background = 1

    def check(self, inputs: Any) -> Any:
        """Validate inputs for this masker and convert them (tensor, or an array of strings)."""
        raise NotImplementedError

    def features(self, inputs: Any) -> Features:
        """The interpretable features of `inputs` (already checked)."""
        raise NotImplementedError

    def mask(self, inputs: Any, features: Features, rows: torch.Tensor, keep: torch.Tensor, out: Any = None) -> Any:
        """Model inputs for coalitions: `rows` (m,) says which input row each coalition is about,
        `keep` (m, width) which features it keeps. Returns m * n_background model inputs, the
        background rows of one coalition next to each other. `out`: the batch this masker built
        before, done with, which it may overwrite instead of taking fresh memory (or ignore)."""
        raise NotImplementedError

    def sizing_sample(self, inputs: Any) -> torch.Tensor | None:
        """One model input like those `mask` builds, to size batches by memory (None: not a tensor)."""
        return inputs[:1] if isinstance(inputs, torch.Tensor) else None

    def describe(self) -> dict[str, Any]:
        """Settings for provenance."""
        return {"masker": type(self).__name__}
