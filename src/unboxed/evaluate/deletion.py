"""Deletion and insertion curves (Petsiuk et al. 2018) and pixel flipping (Bach et al. 2015).

Features are removed (deletion) or put back onto the removed input (insertion) in the order the
explanation ranks them, and the target score is read after every step. A faithful explanation
makes the deletion curve fall fast when the most relevant features go first ("morf"), and slowly
when the least relevant go first ("lerf"). Every step of every example is one coalition of one
`CoalitionGame`: all of them are evaluated in a few big batched model calls.
"""
from __future__ import annotations

from typing import Any

import torch

from ..validation import check_choice, check_positive_int
from .base import register_metric
from .removal import RemovalMetric, coalition_rows, removal_ranks

ORDERS = ("morf", "lerf")


class _RemovalCurve(RemovalMetric):
    """Shared by deletion and insertion: `steps` equal fractions of each example's features."""

    insertion = False

    def __init__(self, removal: Any = 0.0, steps: int = 20, order: str = "morf"):
        super().__init__(removal)
        self.steps = check_positive_int(steps, "steps")
        self.order = check_choice(order, "order", ORDERS)
        # a faithful map deletes the score fast (morf) or slowly (lerf); insertion is the mirror image
        self.higher_is_better = (order == "lerf") != self.insertion

    def settings(self):
        return {k: v for k, v in super().settings().items() if k != "higher_is_better"}  # follows from order

    def score(self, model, inputs, target, attributions, method, **context):
        game = self.game(model, inputs, target)
        values = self.feature_values(attributions, game)
        counts = self.counts(game)
        ranks = removal_ranks(values, counts, most_relevant_first=self.order == "morf")
        fractions = torch.linspace(0.0, 1.0, self.steps + 1, dtype=torch.float64)
        moved = (fractions[None, :] * counts[:, None]).round().long()  # features removed (or inserted) per step
        keep = ranks[:, None, :] < moved[:, :, None] if self.insertion else ranks[:, None, :] >= moved[:, :, None]
        n, points = moved.shape
        curves = game.values(coalition_rows(n, points), keep.reshape(n * points, -1)).view(n, points)
        area = torch.trapezoid(curves, dx=1.0 / self.steps, dim=1)
        return area, {"curves": curves.numpy(), "details": {"fractions": fractions.tolist(), "order": self.order}}


@register_metric
class Deletion(_RemovalCurve):
    """Area under the deletion curve: the target score as ever more features are removed, most
    relevant first (`order="morf"`, lower is better) or least relevant first ("lerf", higher is
    better). x runs over the fraction of features removed, 0 to 1 in `steps` steps; `curves` holds
    the scores, from f(x) to the score with everything removed.

    >>> import numpy as np
    >>> model = lambda x: x @ np.array([3.0, 2.0, 1.0])
    >>> x = np.ones((1, 3))
    >>> result = Deletion(steps=3).evaluate(model, x, target=0, explanation=x * [3.0, 2.0, 1.0])
    >>> result.curves.tolist(), round(float(result.scores[0]), 4), result.higher_is_better
    ([[6.0, 3.0, 1.0, 0.0]], 2.3333, False)
    """

    name = "deletion"
    higher_is_better = False


@register_metric
class Insertion(_RemovalCurve):
    """Area under the insertion curve: features are put back onto the fully removed input, most
    relevant first (`order="morf"`, higher is better) or least relevant first ("lerf", lower is
    better); `curves` runs from the score with everything removed to f(x).

    >>> import numpy as np
    >>> model = lambda x: x @ np.array([3.0, 2.0, 1.0])
    >>> x = np.ones((1, 3))
    >>> Insertion(steps=3).evaluate(model, x, target=0, explanation=x * [3.0, 2.0, 1.0]).curves.tolist()
    [[0.0, 3.0, 5.0, 6.0]]
    """

    name = "insertion"
    insertion = True


@register_metric
class PixelFlipping(RemovalMetric):
    """Pixel flipping (Bach et al. 2015): remove `features_per_step` features at a time, most
    relevant first, and read the score after each step until all are gone. The score is the area
    under that curve with unit spacing (as Quantus' `return_auc_per_sample`); lower is better.
    Images lose whole pixels (all channels), other inputs single elements.

    >>> import numpy as np
    >>> model = lambda x: x @ np.array([3.0, 2.0, 1.0])
    >>> x = np.ones((1, 3))
    >>> result = PixelFlipping().evaluate(model, x, target=0, explanation=x * [3.0, 2.0, 1.0])
    >>> result.curves.tolist(), result.scores.tolist()
    ([[3.0, 1.0, 0.0]], [2.5])
    """

    name = "pixel_flipping"
    higher_is_better = False

    def __init__(self, removal: Any = 0.0, features_per_step: int = 1):
        super().__init__(removal)
        self.features_per_step = check_positive_int(features_per_step, "features_per_step")

    def score(self, model, inputs, target, attributions, method, **context):
        game = self.game(model, inputs, target)
        values = self.feature_values(attributions, game)
        counts = self.counts(game)
        ranks = removal_ranks(values, counts)
        steps = -(-int(counts.max()) // self.features_per_step)
        removed = (torch.arange(1, steps + 1)[None, :] * self.features_per_step).minimum(counts[:, None])
        keep = ranks[:, None, :] >= removed[:, :, None]
        n = len(counts)
        curves = game.values(coalition_rows(n, steps), keep.reshape(n * steps, -1)).view(n, steps)
        area = torch.trapezoid(curves, dx=1.0, dim=1)
        return area, {"curves": curves.numpy(), "details": {"removed": removed.tolist()}}
