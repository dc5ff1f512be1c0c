"""Robustness: does the explanation stay put when the input barely moves, or the seed changes?

- `MaxSensitivity` / `AverageSensitivity` (Yeh et al. 2019): the largest / mean change
  ||phi(x + delta) - phi(x)||_2 of the explanation over `n_samples` draws of uniform noise
  delta in [-radius, radius]^d (optionally divided by ||phi(x)||_2, as Quantus does).
- `LocalLipschitzEstimate` (Alvarez-Melis & Jaakkola 2018): the largest ratio
  ||phi(x + delta) - phi(x)||_2 / ||delta||_2 over the same draws.
- `SeedStability`: how far the top-k features of a stochastic method agree when it is re-run
  with different seeds.

All noisy copies of all examples are explained in ONE call of the method (which batches them
under its memory budget); the noise is drawn on the CPU from a seeded generator in a fixed order,
so results are the same for the same seed on any device and with any batch size.
"""
from __future__ import annotations

import copy
from typing import Any

import torch

from ..errors import InputError
from ..explainer import Explainer
from ..model import ModelAdapter
from ..random import torch_generator
from ..targets import Target
from ..validation import check_positive_float, check_positive_int
from .base import Metric, attribution_tensor, register_metric, resolved_indices
from .texts import TextInputs, per_input_values
from .similarity import top_k_masks


def uniform_noise(inputs: torch.Tensor, radius: float, n_samples: int, seed: int | None) -> torch.Tensor:
    """Noise (n_samples, *inputs.shape), uniform in [-radius, radius], drawn on the CPU with `seed`.

    >>> noise = uniform_noise(torch.zeros(2, 3), 0.1, 4, seed=0)
    >>> tuple(noise.shape), bool(noise.abs().max() <= 0.1)
    ((4, 2, 3), True)
    """
    generator = torch_generator(seed)
    noise = torch.rand((n_samples, *inputs.shape), generator=generator, dtype=torch.float64)
    return ((2 * noise - 1) * radius).to(device=inputs.device, dtype=inputs.dtype)


def explain_noisy(method: Explainer, inputs: torch.Tensor, target: Target, noise: torch.Tensor) -> torch.Tensor:
    """The method's attributions of every noisy copy (n_samples, *inputs.shape), in one explain call."""
    n_samples = len(noise)
    noisy = (inputs[None] + noise).reshape(n_samples * len(inputs), *inputs.shape[1:])
    explained = method.explain(noisy, target=resolved_indices(target.repeat(n_samples)))
    return attribution_tensor(explained, noisy).reshape(noise.shape)


class _NoiseMetric(Metric):
    """Shared by the noise metrics: settings, the noisy re-explanation and the per-draw distances."""

    category = "robustness"
    higher_is_better = False
    needs_method = True

    def __init__(self, radius: float = 0.02, n_samples: int = 10, seed: int | None = 0):
        self.radius, self.n_samples, self.seed = radius, n_samples, seed

    def draws(self, inputs: torch.Tensor, target: Target, attributions: torch.Tensor, method: Explainer):
        """(noise, distances (n_samples, n)) for every draw of every example."""
        check_positive_int(self.n_samples, "n_samples")
        check_positive_float(self.radius, "radius")
        noise = uniform_noise(inputs, self.radius, self.n_samples, self.seed)
        noisy_values = explain_noisy(method, inputs, target, noise)
        flat = lambda t: t.reshape(*t.shape[:2], -1)  # noqa: E731
        distances = flat(noisy_values - attributions[None]).norm(dim=2)
        return noise, distances


class _Sensitivity(_NoiseMetric):
    def __init__(self, radius: float = 0.02, n_samples: int = 10, relative: bool = False, seed: int | None = 0):
        super().__init__(radius, n_samples, seed)
        self.relative = relative

    def reduce(self, distances: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def score(self, model: ModelAdapter, inputs: torch.Tensor, target: Target, attributions: torch.Tensor,
              method: Explainer | None, **context) -> tuple[torch.Tensor, dict[str, Any]]:
        if not isinstance(self.relative, bool):
            raise InputError(f"relative must be True or False, got {self.relative!r}")
        _, distances = self.draws(inputs, target, attributions, method)
        if self.relative:
            distances = distances / attributions.reshape(len(inputs), -1).norm(dim=1).clamp_min(1e-12)
        return self.reduce(distances), {"details": {"per_draw": distances.T.detach().cpu().tolist()}}


@register_metric
class MaxSensitivity(_Sensitivity):
    """Max-sensitivity (Yeh et al. 2019): max over noise draws of ||phi(x + delta) - phi(x)||_2,
    delta uniform in [-radius, radius] per feature. Lower is better (`higher_is_better=False`).

    `n_samples` draws per example, all explained in one batched call of the method; `relative`
    divides by ||phi(x)||_2 (Quantus's default normalisation); `seed` fixes the noise.

    >>> import torch
    >>> model = torch.nn.Linear(3, 1)
    >>> MaxSensitivity(n_samples=5).evaluate(model, torch.ones(2, 3), target=0, method=("saliency", {"absolute": False})).summary
    0.0
    """

    name = "max_sensitivity"

    def reduce(self, distances: torch.Tensor) -> torch.Tensor:
        return distances.amax(0)


@register_metric
class AverageSensitivity(_Sensitivity):
    """Average-sensitivity (Yeh et al. 2019): the mean over noise draws of ||phi(x + delta) - phi(x)||_2.
    Lower is better. Settings as `MaxSensitivity`.

    >>> import torch
    >>> model = torch.nn.Linear(2, 1, bias=False)
    >>> with torch.no_grad():
    ...     _ = model.weight.fill_(1.0)
    >>> result = AverageSensitivity(radius=0.1).evaluate(model, torch.ones(1, 2), target=0, method="input_x_gradient")
    >>> 0 < result.summary <= 0.1 * 2 ** 0.5
    True
    """

    name = "average_sensitivity"

    def reduce(self, distances: torch.Tensor) -> torch.Tensor:
        return distances.mean(0)


@register_metric
class LocalLipschitzEstimate(_NoiseMetric):
    """Local Lipschitz estimate (Alvarez-Melis & Jaakkola 2018): the largest ratio
    ||phi(x + delta) - phi(x)||_2 / ||delta||_2 over `n_samples` uniform draws of delta in
    [-radius, radius]^d. Lower is better (`higher_is_better=False`).

    >>> import torch
    >>> model = torch.nn.Linear(2, 1, bias=False)
    >>> with torch.no_grad():
    ...     _ = model.weight.copy_(torch.tensor([[3.0, 4.0]]))
    >>> result = LocalLipschitzEstimate().evaluate(model, torch.ones(1, 2), target=0, method="input_x_gradient")
    >>> 3.0 <= result.summary <= 4.0  # |w_i| bounds the ratio of phi = x * w
    True
    """

    name = "local_lipschitz_estimate"

    def score(self, model: ModelAdapter, inputs: torch.Tensor, target: Target, attributions: torch.Tensor,
              method: Explainer | None, **context) -> tuple[torch.Tensor, dict[str, Any]]:
        noise, distances = self.draws(inputs, target, attributions, method)
        ratios = distances / noise.reshape(*distances.shape, -1).norm(dim=2).clamp_min(1e-12)
        return ratios.amax(0), {"details": {"per_draw": ratios.T.detach().cpu().tolist()}}


@register_metric
class SeedStability(TextInputs, Metric):
    """Seed stability of a stochastic method: its top-k features agree across `n_seeds` runs with
    seeds `seed, seed + 1, ...`? Score per example: the mean over pairs of runs of the fraction of
    top-k features (of |a| with `absolute`) they share. 1 = the same top-k every time; higher is better.

    The method must have a `seed` setting (SmoothGrad, KernelSHAP, LIME, ...); each run explains all
    examples in one call. No explanation needs to be given: the runs are the explanations.

    >>> import torch
    >>> model = torch.nn.Linear(4, 1)
    >>> smoothgrad = ("smoothgrad", {"absolute": False})  # a linear model's gradient is the same under any noise
    >>> SeedStability(n_seeds=3, k=2).evaluate(model, torch.ones(2, 4), target=0, method=smoothgrad).summary
    1.0
    """

    name = "seed_stability"
    category = "robustness"
    higher_is_better = True
    needs_method = True
    needs_explanation = False

    def __init__(self, n_seeds: int = 5, k: int | float = 0.1, absolute: bool = True, seed: int = 0):
        self.n_seeds, self.k, self.absolute, self.seed = n_seeds, k, absolute, seed


    def score(self, model: ModelAdapter, inputs: torch.Tensor, target: Target, attributions: torch.Tensor | None,
              method: Explainer | None, **context) -> tuple[torch.Tensor, dict[str, Any]]:
        check_positive_int(self.n_seeds, "n_seeds (runs to compare)", minimum=2)
        if not isinstance(self.seed, int):
            raise InputError(f"seed must be an integer, got {self.seed!r}")
        if "seed" not in method.settings():
            raise InputError(f"{method.info.name} takes no seed (it is deterministic), so its seed stability is not defined")
        masks = []
        for seed in range(self.seed, self.seed + self.n_seeds):
            run = copy.copy(method)  # a shallow copy: the same model and settings, another seed
            run.seed = seed
            values = per_input_values(run.explain(inputs, target=resolved_indices(target)), inputs)
            masks.append(top_k_masks((values.abs() if self.absolute else values).reshape(len(inputs), -1), self.k))
        stacked = torch.stack(masks).double()  # (seeds, n, d)
        shared = torch.einsum("snd,tnd->nst", stacked, stacked) / stacked[0].sum(1)[:, None, None]
        pairs = self.n_seeds * (self.n_seeds - 1)
        return (shared.sum((1, 2)) - self.n_seeds) / pairs, {}
