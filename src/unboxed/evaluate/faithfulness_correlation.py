"""Faithfulness correlation (Bhatt et al. 2020): does the relevance of a set of features predict
how much the score drops when that set is removed?"""
from __future__ import annotations

import numbers
from typing import Any, NamedTuple

import torch

from ..errors import InputError
from ..random import torch_generator
from ..validation import check_positive_int
from .base import register_metric
from .removal import RemovalMetric, coalition_rows


class Subsets(NamedTuple):
    """Random feature subsets, (n, n_subsets, largest size): feature `indices` and which of them
    are `members` (a subset smaller than the largest leaves the tail of its row out).

    >>> subsets = Subsets(torch.tensor([[[2, 0]]]), torch.tensor([[[True, False]]]))
    >>> subsets.keep(3).tolist(), subsets.sums(torch.tensor([[1.0, 2.0, 4.0]])).tolist()
    ([[True, True, False]], [[4.0]])
    """

    indices: torch.Tensor
    members: torch.Tensor

    def keep(self, width: int) -> torch.Tensor:
        """(n * n_subsets, width) booleans: every feature but the subset's."""
        indices, members = self.indices.flatten(0, 1), self.members.flatten(0, 1)
        return torch.ones(len(indices), width, dtype=torch.bool).scatter_(1, indices, ~members)

    def sums(self, values: torch.Tensor) -> torch.Tensor:
        """(n, n_subsets): the sum of `values` (n, width) over each subset."""
        n, n_subsets, size = self.indices.shape
        picked = values.gather(1, self.indices.reshape(n, -1)).view(n, n_subsets, size)
        return (picked * self.members).sum(-1)


def random_subsets(counts: torch.Tensor, width: int, n_subsets: int, sizes: torch.Tensor,
                   generator: torch.Generator) -> Subsets:
    """Per row, `n_subsets` uniform random subsets of its first `counts[i]` features with
    `sizes[i, s]` members each (`sizes` (n, n_subsets) or (n, 1)): the smallest random keys.

    >>> subsets = random_subsets(torch.tensor([5]), 5, 3, torch.tensor([[2]]), torch.Generator().manual_seed(0))
    >>> (~subsets.keep(5)).sum(1).tolist()
    [2, 2, 2]
    """
    keys = torch.rand(len(counts), n_subsets, width, generator=generator)
    if bool((counts < width).any()):
        keys.masked_fill_(torch.arange(width)[None, None, :] >= counts[:, None, None], 2.0)  # never drawn
    sizes = sizes.expand(len(counts), n_subsets)
    largest = max(int(sizes.max()), 1)
    same_size = bool((sizes == largest).all())
    indices = keys.topk(largest, dim=-1, largest=False, sorted=not same_size).indices  # sorted: the first sizes[i, s]
    return Subsets(indices, torch.arange(largest)[None, None, :] < sizes[..., None])


def pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of each row of `a` with the same row of `b` (NaN for a constant row).

    >>> round(float(pearson(torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[2.0, 4.0, 7.0]]))[0]), 4)
    0.9934
    """
    a = a - a.mean(-1, keepdim=True)
    b = b - b.mean(-1, keepdim=True)
    return (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1))


@register_metric
class FaithfulnessCorrelation(RemovalMetric):
    """Pearson correlation, per example, between the attribution sum of a random feature subset
    and the score drop f(x) - f(x without the subset), over `n_subsets` subsets of `subset_size`
    features (an int, or a fraction of each example's features). Higher is better; 1 means the
    attributions add up like the model does. Subsets are drawn with `seed`.

    >>> import numpy as np
    >>> model = lambda x: x @ np.array([3.0, -2.0, 1.0, 0.5])
    >>> x = np.ones((2, 4))
    >>> metric = FaithfulnessCorrelation(n_subsets=20, subset_size=2)
    >>> metric.evaluate(model, x, target=0, explanation=x * [3.0, -2.0, 1.0, 0.5]).scores.round(6).tolist()
    [1.0, 1.0]
    """

    name = "faithfulness_correlation"
    higher_is_better = True

    def __init__(self, removal: Any = 0.0, n_subsets: int = 100, subset_size: int | float = 0.25, seed: int | None = 0):
        super().__init__(removal)
        self.n_subsets = check_positive_int(n_subsets, "n_subsets", minimum=2)
        if isinstance(subset_size, bool) or not isinstance(subset_size, numbers.Real) or subset_size <= 0 or (
                not isinstance(subset_size, numbers.Integral) and subset_size >= 1):
            raise InputError(f"subset_size must be a number of features (int >= 1) or a fraction in (0, 1); got {subset_size!r}")
        self.subset_size, self.seed = subset_size, seed

    def sizes(self, counts: torch.Tensor) -> torch.Tensor:
        if isinstance(self.subset_size, numbers.Integral):
            sizes = torch.full_like(counts, int(self.subset_size))
        else:
            sizes = (counts * self.subset_size).round().long().clamp_min(1)
        if bool((sizes >= counts).any()):
            row = int((sizes >= counts).nonzero()[0, 0])
            raise InputError(f"subset_size {self.subset_size} leaves no feature of example {row} "
                             f"({int(counts[row])} features) in place")
        return sizes

    def score(self, model, inputs, target, attributions, method, **context):
        game = self.game(model, inputs, target)
        values = self.feature_values(attributions, game)
        counts = self.counts(game)
        n, width = values.shape
        subsets = random_subsets(counts, width, self.n_subsets, self.sizes(counts)[:, None], torch_generator(self.seed))
        keep = torch.cat([torch.ones(n, width, dtype=torch.bool), subsets.keep(width)])
        rows = torch.cat([torch.arange(n), coalition_rows(n, self.n_subsets)])
        scores = game.values(rows, keep)
        drops = scores[:n, None] - scores[n:].view(n, self.n_subsets)
        sums = subsets.sums(values)
        return pearson(sums, drops), {"details": {"attribution_sums": sums.numpy(), "score_drops": drops.numpy()}}
