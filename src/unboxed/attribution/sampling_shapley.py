"""Shapley values by permutation sampling (Castro et al., 2009; Strumbelj & Kononenko, 2014)."""
from __future__ import annotations

from typing import Any

import torch

from ..taxonomy import Access, Engagement, Format, MethodInfo, Scope, register
from ..validation import check_positive_int
from .coalitions import CoalitionGame
from .masked import MaskedExplainer
from .shapley import full_and_empty, group_generator, play, rows_by_count


def permutation_ranks(n_features: int, n_permutations: int, antithetic: bool, generator: torch.Generator) -> torch.Tensor:
    """(p, n): the position of every feature in each of p random orders. With `antithetic`, the
    second half are the first half's orders reversed (p rounded up to even).

    >>> ranks = permutation_ranks(4, 2, True, torch.Generator().manual_seed(0))
    >>> (ranks[0] + ranks[1]).tolist()  # an order and its reverse
    [3, 3, 3, 3]
    """
    drawn = -(-n_permutations // 2) if antithetic else n_permutations
    ranks = torch.rand(drawn, n_features, generator=generator).argsort(1).argsort(1)
    return torch.cat([ranks, n_features - 1 - ranks]) if antithetic else ranks


@register
class SamplingShapley(MaskedExplainer):
    """Shapley values as marginal contributions averaged over random feature orders.

    For each of `n_permutations` orders (shared by the rows with the same number of features, drawn
    with `seed`), every prefix of the order is evaluated: all prefixes of all orders of all rows in
    one batched call. With `antithetic`, orders come with their reverses (n_permutations rounded up
    to even). Every order's contributions add up to f(x) - base exactly, so efficiency holds
    exactly. `extras` carry a standard error per value from the spread over orders (over pairs of
    orders when antithetic; NaN with a single one).

    >>> import numpy as np
    >>> from unboxed.maskers import TabularMasker
    >>> model = lambda x: x @ np.array([1.0, -2.0, 0.0])
    >>> result = SamplingShapley(model, n_permutations=4, masker=TabularMasker(fill=0.0)).explain(np.ones((1, 3)))
    >>> result.values.tolist(), result.stderr.tolist()
    ([[1.0, -2.0, 0.0]], [[0.0, 0.0, 0.0]])
    """

    info = MethodInfo(
        "sampling_shapley", Engagement.PASSIVE, Format.ATTRIBUTION, Scope.LOCAL, Access.BLACK_BOX,
        "Shapley values by sampling feature orders (antithetic permutations)", "Castro et al. 2009; Strumbelj & Kononenko 2014",
    )

    def __init__(self, model, n_permutations: int = 100, antithetic: bool = True, masker=None, background: Any = None,
                 show_progress: bool = False, seed: int | None = 0):
        super().__init__(model, masker, background, show_progress, seed)
        self.n_permutations, self.antithetic = n_permutations, antithetic

    def attribute_game(self, game: CoalitionGame):
        check_positive_int(self.n_permutations, "n_permutations")
        groups = rows_by_count(game.features.counts)
        orders = [permutation_ranks(count, self.n_permutations, self.antithetic, group_generator(self.seed, count))
                  for count, _ in groups]
        # prefix k of an order keeps the features placed before position k (k = 1 .. n-1)
        prefixes = [ranks[:, None, :] < torch.arange(1, count)[None, :, None] for (count, _), ranks in zip(groups, orders)]
        values = play(game, [(rows, torch.cat([full_and_empty(count), prefix.reshape(-1, count)]))
                             for (count, rows), prefix in zip(groups, prefixes)])
        phi = torch.zeros(game.n_rows, game.width, dtype=torch.float64)
        stderr = torch.zeros(game.n_rows, game.width, dtype=torch.float64)
        base = torch.zeros(game.n_rows, dtype=torch.float64)
        for (count, rows), ranks, v in zip(groups, orders, values):
            per_order = self._contributions(v, ranks)  # (rows, p, n)
            phi[rows, :count] = per_order.mean(1)
            stderr[rows, :count] = self._stderr(per_order)
            base[rows] = v[:, 1]
        return phi, {"base": base, "stderr": stderr}

    @staticmethod
    def _contributions(v: torch.Tensor, ranks: torch.Tensor) -> torch.Tensor:
        """Each feature's marginal contribution in each order, from the values of the prefixes."""
        n_rows, (n_orders, count) = len(v), ranks.shape
        chain = torch.cat([v[:, 1:2].expand(n_rows, n_orders)[..., None],  # empty
                           v[:, 2:].view(n_rows, n_orders, count - 1),
                           v[:, 0:1].expand(n_rows, n_orders)[..., None]], dim=-1)  # full
        steps = chain.diff(dim=-1)  # steps[..., k]: adding the feature at position k
        return steps.gather(2, ranks[None].expand(n_rows, -1, -1))

    def _stderr(self, per_order: torch.Tensor) -> torch.Tensor:
        if self.antithetic:
            half = per_order.shape[1] // 2
            per_order = (per_order[:, :half] + per_order[:, half:]) / 2
        if per_order.shape[1] < 2:
            return torch.full(per_order[:, 0].shape, float("nan"), dtype=torch.float64)
        return per_order.std(dim=1) / per_order.shape[1] ** 0.5
