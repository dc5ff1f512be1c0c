"""ROAD: RemOve And Debias (Rong et al. 2022)."""
from __future__ import annotations

from typing import Sequence

import torch

from ..errors import InputError
from ..random import torch_generator
from ..validation import check_choice, check_positive_float
from .base import Metric, register_metric
from .deletion import ORDERS
from .imputation import noisy_linear_imputation
from .removal import coalition_rows, removal_ranks


@register_metric
class ROAD(Metric):
    """Remove a fraction of the pixels, most relevant first (`order="morf"`, lower is better) or
    least relevant first ("lerf", higher is better), fill them by noisy linear imputation from
    their neighbours (so the filled image does not reveal the removal's shape), and read the
    target score. `curves` (n, len(percentages)) holds the scores, the score is their mean, and
    `details["accuracy"]` says per step whether the prediction still is the target class.

    Pixels are ranked by their attribution summed over channels; `int(p * H * W)` pixels are
    removed at fraction p (as Quantus). Images only, (n, C, H, W); `noise` is seeded by `seed`.

    >>> import torch
    >>> model = lambda x: x.sum(axis=(1, 2, 3))  # the total brightness
    >>> x = torch.zeros(1, 1, 4, 4); x[0, 0, 1:3, 1:3] = 1.0
    >>> result = ROAD(percentages=(0.25,), noise=0.0).evaluate(model, x, target=0, explanation=x)
    >>> result.curves.round(6).tolist()  # the bright square, removed, is filled from its dark ring
    [[0.0]]
    """

    name = "road"
    category = "faithfulness"
    higher_is_better = False

    def __init__(self, percentages: Sequence[float] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9), order: str = "morf",
                 noise: float = 0.01, seed: int | None = 0):
        self.percentages = tuple(float(p) for p in percentages)
        if not self.percentages or any(not 0.0 < p < 1.0 for p in self.percentages):
            raise InputError(f"percentages must be fractions of the pixels strictly between 0 and 1; got {percentages!r}")
        self.order = check_choice(order, "order", ORDERS)
        self.noise = check_positive_float(noise, "noise", allow_zero=True)
        self.seed = seed
        self.higher_is_better = order == "lerf"

    def settings(self):
        settings = {k: v for k, v in super().settings().items() if k != "higher_is_better"}  # follows from order
        return {**settings, "percentages": list(self.percentages)}

    def score(self, model, inputs, target, attributions, method, **context):
        if inputs.ndim != 4:
            raise InputError("ROAD imputes pixels from their neighbours: it needs images (n, C, H, W), "
                             f"got shape {tuple(inputs.shape)}")
        n, _, height, width = inputs.shape
        relevance = attributions.sum(1).reshape(n, -1).double().cpu()
        ranks = removal_ranks(relevance, torch.full((n,), height * width), most_relevant_first=self.order == "morf")
        counts = torch.tensor([int(p * height * width) for p in self.percentages])
        removed = ranks[:, None, :] < counts[None, :, None]  # (n, steps, pixels)
        steps = len(self.percentages)
        rows = coalition_rows(n, steps)
        images = noisy_linear_imputation(inputs[rows.to(inputs.device)], removed.view(n * steps, height, width), self.noise,
                                         torch_generator(self.seed))
        outputs = model.outputs(images)
        curves = target.take(rows).select(outputs).to("cpu", torch.float64).view(n, steps)
        details = {"percentages": list(self.percentages), "order": self.order}
        if target.index is not None:
            predicted = outputs.reshape(len(outputs), -1).argmax(1).cpu()
            details["accuracy"] = (predicted == target.index[rows]).view(n, steps).double().numpy()
        return curves.mean(1), {"curves": curves.numpy(), "details": details}
