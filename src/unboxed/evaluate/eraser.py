"""Comprehensiveness and sufficiency (DeYoung et al. 2020, ERASER): remove, or keep only, the
explanation's top-k% features and see how much of the score goes."""
from __future__ import annotations

from typing import Any, Sequence

import torch

from ..errors import InputError
from .base import register_metric
from .removal import RemovalMetric, coalition_rows, removal_ranks


class _TopFeatures(RemovalMetric):
    """Shared by both: for every fraction k in `fractions` (ERASER's bins by default) the
    ceil(k * features) top-ranked features are removed (comprehensiveness) or kept alone
    (sufficiency); the score is the mean over the bins of f(x) - f(perturbed) (the AOPC).
    ERASER reads class probabilities: give a model that outputs them to match it.
    Texts lose words (`TextMasker()` unless a masker is given), tables and tensors elements."""

    keep_top = False

    def __init__(self, removal: Any = 0.0, fractions: Sequence[float] = (0.01, 0.05, 0.1, 0.2, 0.5)):
        super().__init__(removal)
        self.fractions = tuple(float(k) for k in fractions)
        if not self.fractions or any(not 0.0 < k <= 1.0 for k in self.fractions):
            raise InputError(f"fractions must be in (0, 1]; got {fractions!r}")

    def settings(self):
        return {**super().settings(), "fractions": list(self.fractions)}

    def score(self, model, inputs, target, attributions, method, **context):
        game = self.game(model, inputs, target)
        values = self.feature_values(attributions, game)
        counts = self.counts(game)
        ranks = removal_ranks(values, counts)
        n, width = values.shape
        fractions = torch.tensor(self.fractions, dtype=torch.float64)
        top = (fractions[None, :] * counts[:, None] - 1e-9).ceil().long()  # the float error of k * count must not add a feature
        in_top = ranks[:, None, :] < top[:, :, None]  # (n, bins, width)
        padding = torch.arange(width)[None, None, :] >= counts[:, None, None]
        keep = in_top | padding if self.keep_top else ~in_top
        bins = len(self.fractions)
        keep = torch.cat([torch.ones(n, width, dtype=torch.bool), keep.reshape(-1, width)])
        scores = game.values(torch.cat([torch.arange(n), coalition_rows(n, bins)]), keep)
        drops = scores[:n, None] - scores[n:].view(n, bins)
        return drops.mean(1), {"curves": drops.numpy(), "details": {"fractions": list(self.fractions)}}


@register_metric
class Comprehensiveness(_TopFeatures):
    """How much of the score goes when the top-k% features are removed: mean over the bins of
    f(x) - f(x without them). Higher is better.

    >>> import numpy as np
    >>> model = lambda x: x @ np.array([3.0, 2.0, 1.0, 0.0])
    >>> x = np.ones((1, 4))
    >>> Comprehensiveness(fractions=(0.25, 0.5)).evaluate(model, x, target=0, explanation=x * [3, 2, 1, 0]).curves.tolist()
    [[3.0, 5.0]]
    """

    name = "comprehensiveness"
    higher_is_better = True


@register_metric
class Sufficiency(_TopFeatures):
    """How much of the score goes when only the top-k% features are kept: mean over the bins of
    f(x) - f(x with only them). Lower is better (0: the top features suffice).

    >>> import numpy as np
    >>> model = lambda x: x @ np.array([3.0, 2.0, 1.0, 0.0])
    >>> x = np.ones((1, 4))
    >>> Sufficiency(fractions=(0.25, 0.5)).evaluate(model, x, target=0, explanation=x * [3, 2, 1, 0]).curves.tolist()
    [[3.0, 1.0]]
    """

    name = "sufficiency"
    higher_is_better = False
    keep_top = True
