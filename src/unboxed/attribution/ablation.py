"""Feature ablation: remove one feature at a time and watch the score move."""
from __future__ import annotations

import torch

from ..taxonomy import Access, Engagement, Format, MethodInfo, Scope, register
from .coalitions import CoalitionGame
from .masked import MaskedExplainer


@register
class FeatureAblation(MaskedExplainer):
    """value_j = f(x) - f(x with feature j removed), features removed by the masker.

    One model evaluation per (row, feature), all rows and features in big batches. Unlike
    Shapley values, the values need not add up to f(x) - base: interactions are missed.

    >>> import numpy as np
    >>> from unboxed.maskers import TabularMasker
    >>> model = lambda x: x @ np.array([1.0, -2.0, 0.0])
    >>> result = FeatureAblation(model, masker=TabularMasker(fill=0.0)).explain(np.ones((1, 3)))
    >>> result.values.tolist()
    [[1.0, -2.0, 0.0]]
    """

    info = MethodInfo(
        "feature_ablation", Engagement.PASSIVE, Format.ATTRIBUTION, Scope.LOCAL, Access.BLACK_BOX,
        "score change when one feature is removed", "Zeiler & Fergus 2014; Captum FeatureAblation",
    )

    def attribute_game(self, game: CoalitionGame):
        n, width = game.n_rows, game.width
        rows = torch.arange(n).repeat_interleave(width)
        keep = ~torch.eye(width, dtype=torch.bool).repeat(n, 1)
        without = game.values(rows, keep).view(n, width)
        full, empty = game.full(), game.empty()
        return full[:, None] - without, {"base": empty}
