"""Infidelity (Yeh et al. 2019): how far the attributions, dotted with a perturbation, miss the
score change that perturbation causes: E_I[(I . attributions - (f(x) - f(x - I)))^2]."""
from __future__ import annotations

from typing import Any

import torch

from ..errors import InputError
from ..random import torch_generator
from ..validation import check_choice, check_positive_float, check_positive_int
from .base import register_metric
from .faithfulness_correlation import random_subsets
from .removal import RemovalMetric, coalition_rows

PERTURBATIONS = ("matching", "baseline", "gaussian")


def shapley_kernel_sizes(counts: torch.Tensor, n_draws: int, generator: torch.Generator) -> torch.Tensor:
    """Subset sizes (n, n_draws) drawn from the Shapley kernel's size distribution,
    p(k) proportional to 1 / (k (d - k)) for 0 < k < d features (d = counts[i]; 1 when d = 1).

    >>> sizes = shapley_kernel_sizes(torch.tensor([4, 1]), 1000, torch.Generator().manual_seed(0))
    >>> sizes[0].unique().tolist(), sizes[1].unique().tolist()  # d = 4: p(1) = p(3) = 4/11, p(2) = 3/11
    ([1, 2, 3], [1])
    """
    width = int(counts.max())
    k = torch.arange(1, max(width, 2), dtype=torch.float64)
    d = counts[:, None].double()
    weights = torch.where(k[None] < d, 1.0 / (k[None] * (d - k[None])), torch.zeros(()))
    cdf = weights.cumsum(1) / weights.sum(1, keepdim=True).clamp_min(1e-300)
    draws = torch.rand(len(counts), n_draws, generator=generator, dtype=torch.float64)
    sizes = torch.searchsorted(cdf, draws, right=True) + 1
    return torch.where(counts[:, None] > 1, sizes.minimum(counts[:, None] - 1), counts[:, None])


@register_metric
class Infidelity(RemovalMetric):
    """Infidelity of the attributions under `n_samples` perturbations I per example (lower is better).

    `perturbation`:
    - "matching" (default): I removes a random subset of features (as `removal` says), subset
      sizes drawn from the Shapley kernel, and I . attributions is the attribution sum of the
      removed features: the perturbation under which Yeh et al. (2019) show Shapley values (with
      the same removal) to be the optimal explanation; on a linear model their infidelity is 0.
    - "baseline": the same subsets, but I is the input difference x - baseline on them, so
      I . attributions sums attributions * (x - baseline) (a removal by value, not a background).
    - "gaussian": I ~ N(0, noise^2) on every element, x - I is evaluated (tensor inputs only).

    >>> import numpy as np
    >>> model = lambda x: x @ np.array([3.0, -2.0, 1.0])
    >>> x = np.array([[1.0, 2.0, 3.0]])
    >>> shapley = x * [3.0, -2.0, 1.0]  # w * (x - 0): the exact Shapley values for baseline 0
    >>> Infidelity(n_samples=8).evaluate(model, x, target=0, explanation=shapley).scores.round(9).tolist()
    [0.0]
    """

    name = "infidelity"
    higher_is_better = False

    def __init__(self, removal: Any = 0.0, perturbation: str = "matching", n_samples: int = 32, noise: float = 0.1,
                 seed: int | None = 0):
        super().__init__(removal)
        self.perturbation = check_choice(perturbation, "perturbation", PERTURBATIONS)
        self.n_samples = check_positive_int(n_samples, "n_samples")
        self.noise = check_positive_float(noise, "noise")
        self.seed = seed

    def score(self, model, inputs, target, attributions, method, **context):
        generator = torch_generator(self.seed)
        if self.perturbation == "gaussian":
            dots, changes = self._gaussian(model, inputs, target, attributions, generator)
        else:
            dots, changes = self._subsets(model, inputs, target, attributions, generator)
        errors = (dots - changes) ** 2
        return errors.mean(1), {"details": {"dot_products": dots.numpy(), "score_changes": changes.numpy()}}

    def _subsets(self, model, inputs, target, attributions, generator):
        game = self.game(model, inputs, target)
        counts = self.counts(game)
        if self.perturbation == "baseline":
            fill = game.features.state.get("fill")
            if fill is None:
                raise InputError("perturbation='baseline' needs a removal by value (a number, 'blur', 'mean' or a baseline "
                                 "input); with a background data set or texts use perturbation='matching'")
            attributions = attributions * (inputs - fill)
        values = self.feature_values(attributions, game)
        n, width = values.shape
        sizes = shapley_kernel_sizes(counts, self.n_samples, generator)
        subsets = random_subsets(counts, width, self.n_samples, sizes, generator)
        keep = torch.cat([torch.ones(n, width, dtype=torch.bool), subsets.keep(width)])
        scores = game.values(torch.cat([torch.arange(n), coalition_rows(n, self.n_samples)]), keep)
        changes = scores[:n, None] - scores[n:].view(n, self.n_samples)
        return subsets.sums(values), changes

    def _gaussian(self, model, inputs, target, attributions, generator):
        if not isinstance(inputs, torch.Tensor):
            raise InputError("perturbation='gaussian' adds noise to numbers; texts need perturbation='matching'")
        n = len(inputs)
        noise = torch.randn((n, self.n_samples, *inputs.shape[1:]), generator=generator) * self.noise
        noise = noise.to(device=inputs.device, dtype=inputs.dtype)
        dots = (noise.flatten(2).double() * attributions.flatten(1).double()[:, None, :]).sum(-1).cpu()
        rows = coalition_rows(n, self.n_samples)
        perturbed = inputs[rows.to(inputs.device)] - noise.flatten(0, 1)
        scores = model.scores(torch.cat([inputs, perturbed]), target.take(torch.cat([torch.arange(n), rows])))
        scores = scores.to("cpu", torch.float64)
        return dots, scores[:n, None] - scores[n:].view(n, self.n_samples)
