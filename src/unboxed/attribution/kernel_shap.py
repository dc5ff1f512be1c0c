"""Kernel SHAP (Lundberg & Lee, 2017): Shapley values as a weighted linear regression over coalitions."""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch

from ..taxonomy import Access, Engagement, Format, MethodInfo, Scope, register
from ..validation import check_positive_int
from .coalitions import CoalitionGame
from .masked import MaskedExplainer
from .shapley import (
    all_coalitions,
    coalitions_of_size,
    constrained_normal_matrix,
    efficient_wls,
    full_and_empty,
    group_generator,
    play,
    rows_by_count,
    shapley_kernel,
)


@dataclass
class KernelDesign:
    """The coalitions (m, n) one group of rows plays and their regression weights (m,); `draws`
    (U, k) the coalitions each distinct random draw put in (k = 2 when paired: S and its
    complement) and `counts` (U,) how often each was drawn (the rest were enumerated)."""

    coalitions: torch.Tensor
    weights: torch.Tensor
    draws: torch.Tensor
    counts: torch.Tensor


def kernel_design(n_features: int, n_samples: int, paired: bool, generator: torch.Generator) -> KernelDesign:
    """The coalitions Kernel SHAP evaluates for rows with n features, and their weights.

    Coalition sizes share the kernel's weight mass (n-1) / (s (n-s)). Going outwards from sizes 1
    and n-1, a pair of sizes whose coalitions all fit in its share of the budget is enumerated
    completely, with exact kernel weights (as SHAP's KernelExplainer does). The rest of the budget
    is drawn: a size by its mass, then a uniform coalition of that size (and, when `paired`, its
    complement), until that many distinct coalitions are drawn; each draw carries an equal share
    of the mass left, and repeats add up.

    >>> design = kernel_design(4, 14, True, torch.Generator().manual_seed(0))
    >>> design.coalitions.shape, len(design.draws)  # 2^4 - 2 coalitions: all enumerated, none drawn
    (torch.Size([14, 4]), 0)
    """
    n = n_features
    if n < 63 and n_samples >= 2**n - 2:
        return _enumerated(all_coalitions(n)[1:-1], n)
    mass = {s: (n - 1) / (s * (n - s)) for s in range(1, n)}
    enumerated, left = [], n_samples
    for small in range(1, n // 2 + 1):
        sizes = sorted({small, n - small})
        count = sum(math.comb(n, s) for s in sizes)
        share = sum(mass[s] for s in sizes) / sum(mass.values())
        if left * share < count - 1e-8:
            break
        enumerated += [coalitions_of_size(n, s) for s in sizes]
        left -= count
        for s in sizes:
            del mass[s]
    fixed = _enumerated(torch.cat(enumerated) if enumerated else torch.zeros(0, n, dtype=torch.bool), n)
    drawn, counts = _draw_distinct(n, mass, left // 2 if paired else left, paired, generator)
    if len(drawn) == 0:
        return fixed
    # each draw carries an equal share of the mass left; a paired draw splits it over S and its complement
    per_draw = sum(mass.values()) / float(counts.sum()) / (2 if paired else 1)
    first = len(fixed.coalitions) + torch.arange(len(drawn))
    draws = torch.stack([first, first + len(drawn)], 1) if paired else first[:, None]
    coalitions = torch.cat([fixed.coalitions, drawn, ~drawn] if paired else [fixed.coalitions, drawn])
    weights = torch.cat([fixed.weights] + [counts * per_draw] * (2 if paired else 1))
    return KernelDesign(coalitions, weights, draws, counts)


@lru_cache(maxsize=64)
def seeded_design(n_features: int, n_samples: int, paired: bool, seed: int) -> KernelDesign:
    """`kernel_design` with the generator of (seed, n_features), kept: the same seed draws the same
    design, and explaining in many calls should not draw it again each time. Do not modify it."""
    return kernel_design(n_features, n_samples, paired, group_generator(seed, n_features))


def _enumerated(coalitions: torch.Tensor, n: int) -> KernelDesign:
    return KernelDesign(coalitions, shapley_kernel(n, coalitions.sum(1)), torch.zeros(0, 1, dtype=torch.long),
                        torch.zeros(0, dtype=torch.float64))


def _draw_distinct(n: int, mass: dict[int, float], wanted: int, paired: bool,
                   generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """`wanted` distinct coalitions drawn from the kernel over the sizes in `mass`, and how often each
    was drawn. Vectorised: one long stream of draws is cut where the (wanted + 1)-th distinct
    coalition first appears."""
    if wanted <= 0 or not mass:
        return torch.zeros(0, n, dtype=torch.bool), torch.zeros(0, dtype=torch.float64)
    sizes = torch.tensor(list(mass), dtype=torch.long)
    probabilities = torch.tensor(list(mass.values()), dtype=torch.float64)
    stream = 8 * wanted + 256
    size = sizes[torch.multinomial(probabilities, stream, replacement=True, generator=generator)]
    order = torch.rand(stream, n, generator=generator).argsort(1)  # a uniform permutation per draw
    coalitions = torch.zeros(stream, n, dtype=torch.bool).scatter_(1, order, torch.arange(n) < size[:, None])
    if paired:  # S and its complement are one draw: name it by the member that leaves feature 0 out
        coalitions = torch.where(coalitions[:, :1], ~coalitions, coalitions)
    distinct, which = _unique_rows(coalitions)
    first = torch.full((len(distinct),), stream, dtype=torch.long).scatter_reduce(0, which, torch.arange(stream), "amin")
    order = first.argsort()
    kept = min(wanted, len(distinct))
    cut = int(first[order[kept]]) if kept < len(distinct) else stream
    position = torch.empty_like(order)
    position[order] = torch.arange(len(order))
    counts = torch.bincount(position[which[:cut]], minlength=kept).to(torch.float64)
    return distinct[order[:kept]], counts


def _unique_rows(coalitions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Distinct boolean rows (sorted) and each row's index among them; rows of up to 62 features
    are compared as one integer each (a 1-D unique is ~10x faster than unique over rows)."""
    n = coalitions.shape[1]
    if n > 62:
        distinct, which = torch.unique(coalitions.to(torch.uint8), dim=0, return_inverse=True)
        return distinct.bool(), which
    keys, which = torch.unique(coalitions.to(torch.long) @ (2 ** torch.arange(n)), return_inverse=True)
    return (keys[:, None] >> torch.arange(n)) & 1 == 1, which


def draw_stderr(design: KernelDesign, values: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
    """Standard errors (rows, n) of Kernel SHAP values from the randomness of the draws: the
    bootstrap over draws, linearised (the infinitesimal jackknife; no model calls, no resampling).

    Resampling the D draws moves phi by sum_d (c_d - 1) psi_d, with psi_d the change of phi per
    unit of draw d's weight; so Var = sum_d psi_d^2 - (sum_d psi_d)^2 / D, scaled by D / (D - n + 1)
    for the n - 1 fitted values (as HC1 sandwich errors are). 0 when nothing was drawn.
    `values` (rows, m) are v(S) - base and `phi` (rows, n) the fitted values.

    >>> design = kernel_design(12, 100, True, torch.Generator().manual_seed(0))
    >>> gains = torch.randn(1, len(design.coalitions), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    >>> phi = efficient_wls(design.coalitions, design.weights, gains, torch.ones(1))
    >>> bool((draw_stderr(design, gains, phi) > 0).all())  # pure noise: every value is uncertain
    True
    """
    rows, n = phi.shape
    if len(design.counts) == 0 or n == 1:
        return torch.zeros(rows, n, dtype=torch.float64)
    x, gram_inverse = constrained_normal_matrix(design.coalitions, design.weights)
    influence = x @ gram_inverse  # (m, n-1): d phi[:-1] / d (w_j * residual_j)
    influence = torch.cat([influence, -influence.sum(1, keepdim=True)], dim=1)  # phi_n = total - the rest
    residual = values - phi @ design.coalitions.to(torch.float64).T  # (rows, m)
    counts, draws = design.counts, design.draws
    per_draw = design.weights[draws] / counts[:, None]  # (U, k): one draw's weight on each of its coalitions
    pulls = residual[:, draws] * per_draw  # (rows, U, k)
    slots = range(draws.shape[1])
    mean = sum((counts * pulls[..., s]) @ influence[draws[:, s]] for s in slots)
    square = sum((counts * pulls[..., s] * pulls[..., t]) @ (influence[draws[:, s]] * influence[draws[:, t]])
                 for s in slots for t in slots)
    n_draws = float(counts.sum())
    # residuals of a fit with n-1 free values understate the noise: the small-sample (HC1) correction
    correction = n_draws / max(n_draws - (n - 1), 1.0)
    return ((square - mean**2 / n_draws) * correction).clamp_min(0).sqrt()


@register
class KernelSHAP(MaskedExplainer):
    """Kernel SHAP: Shapley values as the efficiency-constrained weighted least-squares fit of a
    linear model over coalitions, weighted by the Shapley kernel (Lundberg & Lee, 2017).

    `n_samples` coalitions per row besides the full and empty ones (default 2n + 2048 for n
    features, as SHAP); with n_samples >= 2^n - 2 all are enumerated and the values are exact.
    Otherwise small and large coalition sizes are enumerated while the budget allows and the rest
    are drawn with `seed`, `paired` with their complements (antithetic). The constraint
    base + sum(values) = f(x) holds exactly. Rows with the same number of features share one
    coalition design and one batched solve; `extras` carry a standard error per value from the
    randomness of the draws (`draw_stderr`, no extra model calls; 0 when all were enumerated).
    Features are removed by the masker (tabular background, superpixels, words).

    >>> import numpy as np
    >>> from unboxed.maskers import TabularMasker
    >>> model = lambda x: x @ np.array([1.0, -2.0, 0.0])
    >>> result = KernelSHAP(model, masker=TabularMasker(fill=0.0)).explain(np.ones((1, 3)))
    >>> (result.values.round(12) + 0.0).tolist()
    [[1.0, -2.0, 0.0]]
    """

    info = MethodInfo(
        "kernel_shap", Engagement.PASSIVE, Format.ATTRIBUTION, Scope.LOCAL, Access.BLACK_BOX,
        "Shapley values by Shapley-kernel weighted regression over sampled coalitions", "Lundberg & Lee 2017",
    )

    def __init__(self, model, n_samples: int | None = None, paired: bool = True, masker=None, background: Any = None,
                 show_progress: bool = False, seed: int | None = 0):
        super().__init__(model, masker, background, show_progress, seed)
        self.n_samples, self.paired = n_samples, paired

    def attribute_game(self, game: CoalitionGame):
        if self.n_samples is not None:
            check_positive_int(self.n_samples, "n_samples")
        groups = rows_by_count(game.features.counts)
        designs = []
        for count, _ in groups:
            budget = self.n_samples if self.n_samples is not None else 2 * count + 2048
            designs.append(seeded_design(count, budget, self.paired, self.seed) if self.seed is not None
                           else kernel_design(count, budget, self.paired, group_generator(None, count)))
        values = play(game, [(rows, torch.cat([full_and_empty(count), design.coalitions]))
                             for (count, rows), design in zip(groups, designs)])
        phi = torch.zeros(game.n_rows, game.width, dtype=torch.float64)
        stderr = torch.zeros(game.n_rows, game.width, dtype=torch.float64)
        base = torch.zeros(game.n_rows, dtype=torch.float64)
        for (count, rows), design, v in zip(groups, designs, values):
            empty = v[:, 1]
            gains = v[:, 2:] - empty[:, None]
            fit = efficient_wls(design.coalitions, design.weights, gains, v[:, 0] - empty)
            phi[rows, :count] = fit
            stderr[rows, :count] = draw_stderr(design, gains, fit)
            base[rows] = empty
        return phi, {"base": base, "stderr": stderr}
