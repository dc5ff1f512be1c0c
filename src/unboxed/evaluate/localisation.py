"""Localisation: does the relevance fall on the ground-truth region?

These metrics need `mask=`: booleans (or 0/1) shaped like the inputs, or (n, H, W) for images
(n, C, H, W); with a pixel mask a pixel's relevance is its attribution summed over channels.
An example whose mask is empty scores NaN (left out of the summary). `abs=True` ranks by
magnitude; by default signed relevance is used, as in Quantus. No model call is made.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import InputError
from ..validation import check_positive_float
from .base import Metric, register_metric


def check_mask(mask: Any, inputs: torch.Tensor, metric: str) -> torch.Tensor:
    """The ground-truth mask as booleans, (n, H, W) for a pixel mask of images, else like the inputs.

    >>> tuple(check_mask(torch.ones(2, 1, 4, 4), torch.zeros(2, 3, 4, 4), "pointing_game").shape)
    (2, 4, 4)
    """
    if mask is None:
        raise InputError(f"{metric} needs the ground-truth regions: mask=... (booleans shaped like the inputs, "
                         "or (n, H, W) for images)")
    mask = torch.as_tensor(np.asarray(mask.detach().cpu() if isinstance(mask, torch.Tensor) else mask))
    if mask.dtype != torch.bool:
        if mask.is_complex() or not bool(((mask == 0) | (mask == 1)).all()):
            raise InputError("mask must hold booleans (or 0 and 1): True where the ground-truth region is")
        mask = mask != 0
    pixel_shape = (len(inputs), *inputs.shape[2:]) if inputs.ndim == 4 else None
    if pixel_shape and mask.ndim == 4 and tuple(mask.shape) == (pixel_shape[0], 1, *pixel_shape[1:]):
        mask = mask[:, 0]  # one mask for every channel
    if tuple(mask.shape) not in (tuple(inputs.shape), pixel_shape):
        allowed = f" or {pixel_shape}" if pixel_shape else ""
        raise InputError(f"mask has shape {tuple(mask.shape)}; it must be shaped like the inputs {tuple(inputs.shape)}{allowed}")
    return mask.to(inputs.device)


class _Localisation(Metric):
    """Shared by the localisation metrics: flat relevance and mask per example."""

    category = "localisation"

    def __init__(self, abs: bool = False):
        self.abs = bool(abs)

    def flat(self, inputs: torch.Tensor, attributions: torch.Tensor, mask: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """(relevance (n, k) float64, mask (n, k) bool), over pixels or over input elements."""
        mask = check_mask(mask, inputs, self.name)
        relevance = attributions.double()
        if mask.ndim < inputs.ndim:
            relevance = relevance.sum(1)
        relevance = relevance.reshape(len(inputs), -1)
        return (relevance.abs() if self.abs else relevance), mask.reshape(len(inputs), -1)


def _empty_to_nan(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """NaN for the examples whose mask is empty: there is nothing to localise."""
    return scores.masked_fill(~mask.any(1), float("nan"))


@register_metric
class PointingGame(_Localisation):
    """Pointing game (Zhang et al. 2018): 1 when the most relevant element (any of them, on a tie)
    lies in the mask, else 0. `tolerance` (pixels, pixel masks of images only) counts a hit within
    that distance of the mask, as the paper's 15 pixels. Higher is better.

    >>> import numpy as np
    >>> model = lambda x: x.sum(axis=1)
    >>> relevance = [[0.1, 0.9, 0.2], [0.8, 0.1, 0.3]]
    >>> PointingGame().evaluate(model, np.ones((2, 3)), explanation=relevance, mask=[[0, 1, 0], [0, 1, 1]]).scores.tolist()
    [1.0, 0.0]
    """

    name = "pointing_game"
    higher_is_better = True

    def __init__(self, abs: bool = False, tolerance: float = 0.0):
        super().__init__(abs=abs)
        self.tolerance = check_positive_float(tolerance, "tolerance", allow_zero=True)

    def score(self, model, inputs, target, attributions, method, mask=None, **context):
        if self.tolerance > 0:
            mask = self.dilated(check_mask(mask, inputs, self.name), inputs)
        relevance, mask = self.flat(inputs, attributions, mask)
        peak = relevance == relevance.amax(1, keepdim=True)
        return _empty_to_nan((peak & mask).any(1).double(), mask), {}

    def dilated(self, mask: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """The mask grown by `tolerance` pixels (a disc)."""
        if inputs.ndim != 4 or mask.ndim != 3:
            raise InputError("tolerance needs images and a pixel mask (n, H, W)")
        radius = int(self.tolerance)
        offsets = torch.arange(-radius, radius + 1, device=mask.device, dtype=torch.float64)
        disc = (offsets[:, None] ** 2 + offsets[None, :] ** 2 <= self.tolerance**2).double()
        grown = torch.nn.functional.conv2d(mask[:, None].double(), disc[None, None], padding=radius)
        return grown[:, 0] > 0


@register_metric
class RelevanceMassAccuracy(_Localisation):
    """Relevance mass accuracy (Arras et al. 2022): the share of the total relevance that falls
    inside the mask. Higher is better (1: all relevance on the ground truth).

    >>> import numpy as np
    >>> model = lambda x: x.sum(axis=1)
    >>> metric = RelevanceMassAccuracy()
    >>> metric.evaluate(model, np.ones((1, 4)), explanation=[[3.0, 1.0, 0.0, 0.0]], mask=[[1, 0, 0, 1]]).scores.tolist()
    [0.75]
    """

    name = "relevance_mass_accuracy"
    higher_is_better = True

    def score(self, model, inputs, target, attributions, method, mask=None, **context):
        relevance, mask = self.flat(inputs, attributions, mask)
        return _empty_to_nan((relevance * mask).sum(1) / relevance.sum(1), mask), {}


@register_metric
class RelevanceRankAccuracy(_Localisation):
    """Relevance rank accuracy (Arras et al. 2022): with K the mask's size, the share of the K
    most relevant elements that lie inside the mask (ties keep the elements' order). Higher is better.

    >>> import numpy as np
    >>> model = lambda x: x.sum(axis=1)
    >>> metric = RelevanceRankAccuracy()
    >>> metric.evaluate(model, np.ones((1, 4)), explanation=[[3.0, 1.0, 2.0, 0.0]], mask=[[1, 1, 0, 0]]).scores.tolist()
    [0.5]
    """

    name = "relevance_rank_accuracy"
    higher_is_better = True

    def score(self, model, inputs, target, attributions, method, mask=None, **context):
        relevance, mask = self.flat(inputs, attributions, mask)
        order = relevance.argsort(dim=1, descending=True, stable=True)
        sizes = mask.sum(1)
        in_top = torch.arange(mask.shape[1], device=mask.device)[None, :] < sizes[:, None]  # positions in `order`
        hits = (mask.gather(1, order) & in_top).sum(1)
        return _empty_to_nan(hits.double() / sizes.clamp_min(1), mask), {}
