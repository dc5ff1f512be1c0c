"""GradientSHAP / expected gradients (Lundberg & Lee, 2017; Erion et al., 2021)."""
from __future__ import annotations

from typing import Any

import torch

from ..errors import InputError
from ..random import torch_generator
from ..taxonomy import Access, Engagement, Format, MethodInfo, Scope, register
from ..targets import Target
from ..validation import as_tensor, check_positive_float, check_positive_int
from .base import AttributionExplainer


def draw_baselines(n_rows: int, n_background: int, n_samples: int, generator: torch.Generator) -> torch.Tensor:
    """(n_samples, n_rows) background indices: every row cycles through random orders of the whole
    background, so each background row is used equally often when n_samples is a multiple of it.

    >>> which = draw_baselines(2, 3, 6, torch.Generator().manual_seed(0))
    >>> torch.bincount(which[:, 0], minlength=3).tolist()
    [2, 2, 2]
    """
    rounds = -(-n_samples // n_background)
    orders = torch.rand(n_rows, rounds, n_background, generator=generator).argsort(-1)
    return orders.reshape(n_rows, -1)[:, :n_samples].T.contiguous()


@register
class GradientSHAP(AttributionExplainer):
    """Expected gradients: E[grad f(x' + a (x~ - x')) * (x~ - x')] over background rows x', a ~ U(0, 1)
    and x~ = x + N(0, stdevs^2) noise (GradientSHAP's input noise; none by default).

    `background` is a data set of rows shaped like the inputs. Each input draws `n_samples`
    (background row, path point, noise) triples with `seed` (background rows without replacement,
    cycling through the whole set, so with n_samples a multiple of its size every row is used
    equally often); all triples of all inputs go through the model's batched gradients. It is
    integrated gradients averaged over the background, so base + sum(values) = f(x) in expectation,
    with `base` the mean score over the background; the gap of this estimate is returned per input
    as `delta` and falls as n_samples grows. On a linear model (without noise) the values are
    exactly w * (x - mean background) whenever n_samples is a multiple of the background size.

    >>> import torch
    >>> model = torch.nn.Linear(3, 1)
    >>> background = torch.tensor([[0.0, 0.0, 0.0], [2.0, 2.0, 2.0]])
    >>> result = GradientSHAP(model, background, n_samples=4).explain(torch.full((1, 3), 3.0), target=0)
    >>> bool(torch.allclose(torch.tensor(result.values), 2.0 * model.weight))
    True
    """

    info = MethodInfo(
        "gradient_shap", Engagement.PASSIVE, Format.ATTRIBUTION, Scope.LOCAL, Access.GRADIENTS,
        "expected gradients: gradient x (input - baseline) at random points between background rows and the input",
        "Lundberg & Lee 2017 (GradientExplainer); Erion et al. 2021",
    )

    def __init__(self, model, background: Any, n_samples: int = 50, stdevs: float = 0.0, seed: int | None = 0):
        super().__init__(model)
        self.background, self.n_samples, self.stdevs, self.seed = background, n_samples, stdevs, seed

    def settings(self):
        settings = super().settings()
        settings["background"] = f"{len(self.background)} rows" if hasattr(self.background, "__len__") else "custom"
        return settings

    def attribute(self, inputs: torch.Tensor, target: Target):
        n_samples = check_positive_int(self.n_samples, "n_samples")
        stdevs = check_positive_float(self.stdevs, "stdevs", allow_zero=True)
        background = self._background(inputs)
        generator = torch_generator(self.seed)
        n = len(inputs)
        which = draw_baselines(n, len(background), n_samples, generator)
        alphas = torch.rand(n_samples, n, generator=generator, dtype=torch.float64).to(inputs.device, inputs.dtype)
        noise = torch.randn((n_samples, *inputs.shape), generator=generator, dtype=inputs.dtype) * stdevs if stdevs else None
        view = (n_samples, n) + (1,) * (inputs.ndim - 1)
        alphas = alphas.view(view)
        draws_per_call = max(1, self.model.chunk_size(inputs, with_grad=True) // n)
        total = torch.zeros_like(inputs)
        for first in range(0, n_samples, draws_per_call):
            part = slice(first, min(first + draws_per_call, n_samples))
            starts = background[which[part].to(inputs.device)]  # (draws, n, ...)
            ends = inputs[None] if noise is None else inputs[None] + noise[part].to(inputs.device)
            points = starts + alphas[part] * (ends - starts)
            draws = len(starts)
            grads, _, _ = self.model.gradients(points.reshape(draws * n, *inputs.shape[1:]), target.repeat(draws))
            total += (grads.view(draws, *inputs.shape) * (ends - starts)).sum(0)
        values = total / n_samples
        scores = self.model.scores(inputs, target)
        base = self._background_score(background, target, n)
        delta = values.reshape(n, -1).sum(1).double() - (scores.double() - base)
        return values, {"scores": scores, "delta": delta, "base": base}

    def _background(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.background is None:
            raise InputError("GradientSHAP needs a background data set (rows shaped like the inputs, e.g. training data)")
        background = as_tensor(self.background, "background").to(inputs.device, inputs.dtype)
        if tuple(background.shape[1:]) != tuple(inputs.shape[1:]):
            raise InputError(
                f"background rows have shape {tuple(background.shape[1:])} but the inputs' rows have "
                f"{tuple(inputs.shape[1:])}: give background rows shaped like the inputs"
            )
        return background

    def _background_score(self, background: torch.Tensor, target: Target, n: int) -> torch.Tensor:
        """Mean target score over the background, per input row (float64)."""
        outputs = self.model.outputs(background)
        if target.index is None:
            return target.select(outputs).double().mean().expand(n)
        flat = outputs.reshape(len(outputs), -1)
        return flat[:, target.index.to(flat.device)].double().mean(0)
