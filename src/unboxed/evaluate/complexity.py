"""Complexity: how concise an explanation is, read from the attributions alone (no model call).

All three flatten each example's attributions (every element of the input), optionally divide
them by their largest magnitude (`normalise`, per example: a batch never changes an example's
score) and take magnitudes (`abs`), as Quantus does by default.
"""
from __future__ import annotations

import torch

from ..validation import check_positive_float
from .base import Metric, register_metric

# Added to every magnitude, so that an all-zero map has a defined sparseness (0: nothing stands
# out) and the logarithm of a zero share is finite; the same constants as Quantus.
GINI_OFFSET = 1e-7
LOG_OFFSET = 1e-12


class _AttributionComplexity(Metric):
    """Shared settings: `abs` (magnitudes; default True) and `normalise` (divide each example by
    its largest |attribution|; default True)."""

    category = "complexity"

    def __init__(self, abs: bool = True, normalise: bool = True):
        self.abs, self.normalise = bool(abs), bool(normalise)

    def flat(self, attributions: torch.Tensor) -> torch.Tensor:
        """(n, elements) float64, normalised and in magnitude as the settings say."""
        values = attributions.reshape(len(attributions), -1).double()
        if self.normalise:
            peak = values.abs().amax(1, keepdim=True)
            values = values / torch.where(peak > 0, peak, torch.ones_like(peak))
        return values.abs() if self.abs else values


@register_metric
class Sparseness(_AttributionComplexity):
    """Gini index of the attribution magnitudes (Chalasani et al. 2020): 0 when all elements are
    equally relevant, towards 1 when one element holds all the relevance. Higher is better.

    >>> import numpy as np
    >>> model = lambda x: x.sum(axis=1)
    >>> result = Sparseness().evaluate(model, np.ones((2, 4)), explanation=[[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 5.0]])
    >>> result.scores.round(4).tolist()
    [0.0, 0.75]
    """

    name = "sparseness"
    higher_is_better = True

    def score(self, model, inputs, target, attributions, method, **context):
        values = (self.flat(attributions) + GINI_OFFSET).sort(dim=1).values
        d = values.shape[1]
        k = torch.arange(1, d + 1, dtype=torch.float64, device=values.device)
        gini = ((2 * k - d - 1) * values).sum(1) / (d * values.sum(1))
        return gini, {}


@register_metric
class EntropyComplexity(_AttributionComplexity):
    """Entropy of the attribution shares |a_i| / sum |a| (Bhatt et al. 2020): log(d) when all d
    elements share the relevance equally, 0 when one holds it all. Lower is better.

    >>> import numpy as np
    >>> model = lambda x: x.sum(axis=1)
    >>> result = EntropyComplexity().evaluate(model, np.ones((2, 4)), explanation=[[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 5.0]])
    >>> (result.scores.round(4) + 0.0).tolist()  # log(4) = 1.3863
    [1.3863, 0.0]
    """

    name = "entropy_complexity"
    higher_is_better = False

    def score(self, model, inputs, target, attributions, method, **context):
        values = self.flat(attributions)
        shares = values / values.abs().sum(1, keepdim=True)
        return -(shares * torch.log(shares + LOG_OFFSET)).sum(1), {}


@register_metric
class EffectiveComplexity(_AttributionComplexity):
    """Effective complexity (Nguyen & Martinez 2020): how many elements have an attribution above
    `eps` (after normalising by the largest magnitude, by default). Lower is better.

    >>> import numpy as np
    >>> model = lambda x: x.sum(axis=1)
    >>> EffectiveComplexity(eps=0.1).evaluate(model, np.ones((1, 4)), explanation=[[1.0, 0.05, -0.5, 0.0]]).scores.tolist()
    [2.0]
    """

    name = "effective_complexity"
    higher_is_better = False

    def __init__(self, eps: float = 1e-5, abs: bool = True, normalise: bool = True):
        super().__init__(abs=abs, normalise=normalise)
        self.eps = check_positive_float(eps, "eps", allow_zero=True)

    def score(self, model, inputs, target, attributions, method, **context):
        return (self.flat(attributions) > self.eps).sum(1).double(), {}
