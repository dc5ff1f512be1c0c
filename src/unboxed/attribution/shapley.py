"""Exact Shapley values, and the pieces every Shapley estimator shares.

The Shapley value of feature i is its marginal contribution v(S + i) - v(S) averaged over all
orders in which features could be added. Here the game v is a `CoalitionGame` (the mean score
over the masker's background with only the features in S kept), so the values are interventional
Shapley values (SHAP's "independent" masker). Shared pieces: coalition enumeration, the Shapley
weights, the Shapley kernel, the efficiency-constrained weighted least squares Kernel SHAP
solves (batched over rows and bootstrap replicates), and `play`, which evaluates the coalitions
of all rows in one `game.values` call.
"""
from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch

from ..errors import InputError
from ..random import torch_generator
from ..taxonomy import Access, Engagement, Format, MethodInfo, Scope, register
from ..validation import check_positive_int
from .coalitions import CoalitionGame
from .masked import MaskedExplainer


def all_coalitions(n_features: int) -> torch.Tensor:
    """Every subset of `n_features` features, (2^n, n) booleans; row k keeps the bits of k.

    >>> all_coalitions(2).int().tolist()
    [[0, 0], [1, 0], [0, 1], [1, 1]]
    """
    codes = torch.arange(2**n_features, dtype=torch.long)
    return ((codes[:, None] >> torch.arange(n_features)) & 1).bool()


def coalitions_of_size(n_features: int, size: int) -> torch.Tensor:
    """Every subset of exactly `size` features, (C(n, size), n) booleans, built one member at a time
    (vectorised over subsets; sizes above n/2 as complements of the smaller ones).

    >>> coalitions_of_size(4, 2).int().tolist()
    [[1, 1, 0, 0], [1, 0, 1, 0], [1, 0, 0, 1], [0, 1, 1, 0], [0, 1, 0, 1], [0, 0, 1, 1]]
    """
    n = n_features
    if size > n - size:
        return ~coalitions_of_size(n, n - size)
    members = torch.empty(1, 0, dtype=torch.long)
    for placed in range(size):
        last = members[:, -1] if placed else torch.full((1,), -1, dtype=torch.long)
        # the next member is larger than the last, leaving room for the members still to place
        room = (n - 1 - last - (size - placed - 1)).clamp_min(0)
        parent = torch.repeat_interleave(torch.arange(len(members)), room)
        step = torch.arange(len(parent)) - torch.repeat_interleave(room.cumsum(0) - room, room)
        members = torch.cat([members[parent], (last[parent] + 1 + step)[:, None]], dim=1)
    return torch.zeros(len(members), n, dtype=torch.bool).scatter_(1, members, True)


def shapley_kernel(n_features: int, sizes: torch.Tensor) -> torch.Tensor:
    """Lundberg & Lee's Shapley kernel weight of one coalition of each size in `sizes` (0 < size < n):
    (n - 1) / (C(n, size) * size * (n - size)).

    >>> shapley_kernel(4, torch.tensor([1, 2])).tolist()
    [0.25, 0.125]
    """
    n = n_features
    table = torch.tensor([0.0] + [(n - 1) / (math.comb(n, s) * s * (n - s)) for s in range(1, n)] + [0.0],
                         dtype=torch.float64)
    return table[sizes.long()]


def shapley_matrix(n_features: int) -> torch.Tensor:
    """M (2^n, n) with Shapley values = v @ M for v over `all_coalitions(n)`: a coalition S of size s
    weighs 1 / (n C(n-1, s-1)) for its members and -1 / (n C(n-1, s)) for the others.

    >>> v = torch.tensor([0.0, 1.0, 2.0, 5.0], dtype=torch.float64)  # v(S) for {}, {0}, {1}, {0, 1}
    >>> (v @ shapley_matrix(2)).tolist()
    [2.0, 3.0]
    """
    n = n_features
    member = torch.tensor([0.0] + [1.0 / (n * math.comb(n - 1, s - 1)) for s in range(1, n + 1)], dtype=torch.float64)
    other = torch.tensor([1.0 / (n * math.comb(n - 1, s)) for s in range(n)] + [0.0], dtype=torch.float64)
    keep = all_coalitions(n)
    sizes = keep.sum(1)
    return torch.where(keep, member[sizes][:, None], -other[sizes][:, None])


def efficient_wls(design: torch.Tensor, weights: torch.Tensor, values: torch.Tensor, totals: torch.Tensor) -> torch.Tensor:
    """Kernel SHAP's solve: phi minimising sum_j w_j (design_j . phi - values_j)^2 subject to
    sum(phi) = total, for many rows at once.

    `design` (m, n) coalitions shared by all rows, `weights` (m,), `values` (rows, m) v(S) - base,
    `totals` (rows,) v(all) - base. The constraint is enforced exactly by eliminating the last
    feature (phi_n = total - the others); the (n-1)-square normal equations of all rows are solved
    in one pseudo-inverse (robust when fewer coalitions than features were sampled). Returns
    (rows, n) in float64.

    >>> design = torch.tensor([[True, False], [False, True]])
    >>> efficient_wls(design, torch.ones(2), torch.tensor([[1.0, 2.0]]), torch.tensor([4.0])).tolist()
    [[1.5, 2.5]]
    """
    totals = totals.to(torch.float64)
    if design.shape[1] == 1:
        return totals[:, None].clone()
    x, gram_inverse = constrained_normal_matrix(design, weights)
    y = values.to(torch.float64) - design[:, -1].to(torch.float64)[None, :] * totals[:, None]
    head = (y * weights.to(torch.float64)) @ x @ gram_inverse  # (rows, n-1)
    return torch.cat([head, totals[:, None] - head.sum(1, keepdim=True)], dim=1)


def constrained_normal_matrix(design: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The regressors x (m, n-1) of the problem with the last feature eliminated, and the
    pseudo-inverse of its weighted normal matrix x' W x.

    >>> x, inverse = constrained_normal_matrix(torch.tensor([[True, False], [False, True]]), torch.ones(2))
    >>> x.tolist(), inverse.tolist()
    ([[1.0], [-1.0]], [[0.5]])
    """
    z = design.to(torch.float64)
    x = z[:, :-1] - z[:, -1:]  # design . phi = x . phi[:-1] + z_last * total
    gram = (x * weights.to(torch.float64)[:, None]).T @ x
    return x, torch.linalg.pinv(gram, hermitian=True)


def rows_by_count(counts: Any) -> list[tuple[int, torch.Tensor]]:
    """Rows grouped by their number of features: [(count, row indices)], counts ascending.

    >>> [(c, rows.tolist()) for c, rows in rows_by_count(np.array([3, 5, 3]))]
    [(3, [0, 2]), (5, [1])]
    """
    counts = torch.as_tensor(np.asarray(counts), dtype=torch.long)
    return [(int(c), (counts == c).nonzero()[:, 0]) for c in torch.unique(counts)]


def group_generator(seed: int | None, count: int) -> torch.Generator:
    """The generator for rows with `count` features: derived from (seed, count), so a row's random
    draws do not depend on which other rows are explained with it.

    >>> bool(torch.rand(1, generator=group_generator(0, 5)) == torch.rand(1, generator=group_generator(0, 5)))
    True
    """
    if seed is None:
        return torch_generator(None)
    return torch_generator(int(np.random.SeedSequence([int(seed), int(count)]).generate_state(1, np.uint64)[0] >> 1))


def play(game: CoalitionGame, blocks: list[tuple[torch.Tensor, torch.Tensor]]) -> list[torch.Tensor]:
    """Values of coalitions for groups of rows, in ONE `game.values` call.

    `blocks` holds (rows (k,), keep (m, n)) pairs: every row of a block plays the same m coalitions
    of its n features (n <= game.width; the padding features are left out). Returns one (k, m)
    float64 tensor per block.

    >>> from unboxed import adapt
    >>> from unboxed.maskers import TabularMasker
    >>> from unboxed.targets import Target
    >>> masker = TabularMasker(fill=0.0)
    >>> x = masker.check(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    >>> game = CoalitionGame(adapt(lambda b: b.sum(1)), masker, x, Target(index=torch.tensor([0, 0])), masker.features(x))
    >>> play(game, [(torch.tensor([0, 1]), torch.tensor([[True, False], [True, True]]))])[0].tolist()
    [[1.0, 3.0], [3.0, 7.0]]
    """
    all_rows, all_keep = [], []
    for rows, keep in blocks:
        padded = torch.zeros(len(keep), game.width, dtype=torch.bool)
        padded[:, : keep.shape[1]] = keep
        all_rows.append(rows.repeat_interleave(len(keep)))
        all_keep.append(padded.repeat(len(rows), 1))
    values = game.values(torch.cat(all_rows), torch.cat(all_keep))
    sizes = [len(rows) * len(keep) for rows, keep in blocks]
    return [part.view(len(rows), len(keep)) for part, (rows, keep) in zip(values.split(sizes), blocks)]


def full_and_empty(n_features: int) -> torch.Tensor:
    """The grand coalition and the empty one, (2, n): every design starts with them.

    >>> full_and_empty(2).tolist()
    [[True, True], [False, False]]
    """
    return torch.stack([torch.ones(n_features, dtype=torch.bool), torch.zeros(n_features, dtype=torch.bool)])


def _duration(seconds: float) -> str:
    for unit, size in (("years", 365 * 86400), ("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} seconds"


@register
class ExactShapley(MaskedExplainer):
    """Exact Shapley values: all 2^n coalitions of every row, phi = v @ M (`shapley_matrix`).

    Features are removed by the masker (tabular columns or groups, superpixels, words); every
    coalition of every row is evaluated in one batched call. Efficiency holds to rounding:
    `base + values.sum(1) == scores`, with `base` the value of the empty coalition (the mean score
    over the background). The cost doubles with every feature: above `max_features` (default
    20) an InputError says how long it would take and what to use instead.

    >>> import numpy as np
    >>> from unboxed.maskers import TabularMasker
    >>> model = lambda x: x @ np.array([1.0, -2.0, 0.0])
    >>> result = ExactShapley(model, masker=TabularMasker(fill=0.0)).explain(np.ones((1, 3)))
    >>> (result.values.round(12) + 0.0).tolist(), result.base.tolist()
    ([[1.0, -2.0, 0.0]], [0.0])
    """

    info = MethodInfo(
        "exact_shapley", Engagement.PASSIVE, Format.ATTRIBUTION, Scope.LOCAL, Access.BLACK_BOX,
        "exact Shapley values over all coalitions of features", "Shapley 1953; Lundberg & Lee 2017",
    )

    def __init__(self, model, masker=None, background: Any = None, max_features: int = 20, show_progress: bool = False,
                 seed: int | None = 0):
        super().__init__(model, masker, background, show_progress, seed)
        self.max_features = max_features

    def attribute_game(self, game: CoalitionGame):
        check_positive_int(self.max_features, "max_features")
        groups = rows_by_count(game.features.counts)
        widest = max(count for count, _ in groups)
        if widest > self.max_features:
            raise InputError(self._too_many(game, groups))
        values = play(game, [(rows, all_coalitions(count)) for count, rows in groups])
        phi = torch.zeros(game.n_rows, game.width, dtype=torch.float64)
        base = torch.zeros(game.n_rows, dtype=torch.float64)
        for (count, rows), v in zip(groups, values):
            phi[rows, :count] = v @ shapley_matrix(count)
            base[rows] = v[:, 0]  # coalition 0 is the empty one
        return phi, {"base": base}

    def _too_many(self, game: CoalitionGame, groups) -> str:
        coalitions = sum(2.0**count * len(rows) for count, rows in groups)
        widest = max(count for count, _ in groups)
        # A timed probe of a few coalitions gives the model's speed on this very input.
        probe = min(16, 2**widest)
        start = time.perf_counter()
        game.values(torch.zeros(probe, dtype=torch.long), torch.rand(probe, game.width, generator=torch_generator(0)) < 0.5)
        per_coalition = (time.perf_counter() - start) / probe
        return (
            f"exact Shapley values of {widest} features need 2^{widest} coalitions per row: {coalitions:.3g} coalitions "
            f"x {game.masker.n_background} background rows = {coalitions * game.masker.n_background:.3g} model evaluations, "
            f"about {_duration(coalitions * per_coalition)} at the measured {1 / per_coalition:.3g} coalitions/s "
            f"(max_features={self.max_features}); use KernelSHAP(n_samples=...) or SamplingShapley for estimates "
            "with standard errors, or group the features (e.g. TabularMasker(background, groups=...), "
            "fewer superpixels, shorter texts)"
        )
