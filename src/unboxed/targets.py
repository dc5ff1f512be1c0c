"""Which output of the model an explanation is about: a class index, one per sample, or a callable."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

import numpy as np
import torch

from .errors import InputError

TargetLike = Union[None, int, "np.ndarray", torch.Tensor, list, Callable[[torch.Tensor], torch.Tensor]]


@dataclass(frozen=True)
class Target:
    """Resolved target: per-sample output indices, or a callable that maps outputs (n, ...) to scores (n,)."""

    index: torch.Tensor | None = None
    function: Callable[[torch.Tensor], torch.Tensor] | None = None

    def select(self, outputs: torch.Tensor) -> torch.Tensor:
        """The scalar score per sample that is being explained."""
        if self.function is not None:
            scores = self.function(outputs)
            if not isinstance(scores, torch.Tensor) or scores.shape != outputs.shape[:1]:
                shape = getattr(scores, "shape", type(scores).__name__)
                raise InputError(f"target callable must return one score per sample, shape ({outputs.shape[0]},); got {shape}")
            return scores
        flat = outputs.reshape(outputs.shape[0], -1)
        if self.index.stride(0) == 0 and len(self.index) == len(flat) > 0:  # one class for all (repeat_each): a column
            return flat[:, int(self.index[0])]
        return flat.gather(1, self.index.to(flat.device)[:, None])[:, 0]

    def take(self, rows: torch.Tensor | slice) -> "Target":
        """The same target restricted (or expanded) to the given sample rows."""
        if self.index is None or (isinstance(rows, slice) and rows.indices(len(self.index)) == (0, len(self.index), 1)):
            return self
        return Target(index=self.index[rows.cpu() if isinstance(rows, torch.Tensor) else rows])

    def repeat(self, times: int) -> "Target":
        """Target for inputs repeated `times` times along the batch (block order: all samples, then again)."""
        if self.index is None:
            return self
        return Target(index=self.index.repeat(times))

    def repeat_each(self, times: int) -> "Target":
        """Target for inputs where each sample is repeated `times` times in a row (sample 0 x times, then 1, ...).
        One class for all is a broadcast view (no index per input)."""
        if self.index is None or times == 1:
            return self
        one = self.single_class()
        if one is not None:
            return Target(index=one.expand(len(self.index) * times))
        return Target(index=self.index.repeat_interleave(times))

    def single_class(self) -> torch.Tensor | None:
        """The class index (shape (1,)) when every sample has the same one, else None.

        >>> Target(index=torch.tensor([2, 2])).single_class().tolist(), Target(index=torch.tensor([0, 1])).single_class()
        ([2], None)
        """
        if self.index is None or not len(self.index):
            return None
        if self.index.stride(0) == 0 or bool((self.index == self.index[0]).all()):
            return self.index[:1]
        return None

    def as_list(self) -> list | str:
        """A JSON-friendly description, for provenance."""
        if self.index is None:
            return getattr(self.function, "__name__", "callable")
        return self.index.tolist()


def resolve_target(target: TargetLike, outputs: torch.Tensor) -> Target:
    """Check `target` against the model's `outputs` on the inputs, and resolve it.

    `None` picks the predicted class (argmax) for multi-output models and the only output otherwise.

    >>> resolve_target(1, torch.zeros(2, 3)).index.tolist()
    [1, 1]
    """
    n = outputs.shape[0]
    width = int(np.prod(outputs.shape[1:])) if outputs.ndim > 1 else 1
    if callable(target) and not isinstance(target, torch.Tensor):
        resolved = Target(function=target)
        resolved.select(outputs)  # fail now, with a clear message, on a bad callable
        return resolved
    if target is None:
        index = outputs.reshape(n, -1).argmax(dim=1) if width > 1 else torch.zeros(n, dtype=torch.long)
        return Target(index=index.cpu())
    return index_target(target, n, width)


def index_target(target: int | np.ndarray | torch.Tensor | list, n: int, width: int) -> Target:
    """Check explicit output indices (one, or one per sample of `n`) against the output `width`.

    >>> index_target([0, 2], n=2, width=3).index.tolist()
    [0, 2]
    """
    index = torch.as_tensor(np.asarray(target) if not isinstance(target, torch.Tensor) else target)
    if index.is_floating_point() or index.is_complex() or index.dtype == torch.bool:
        raise InputError(f"target must be integer class indices or a callable, got dtype {index.dtype}")
    if index.ndim == 0:
        index = index.expand(n)
    if index.ndim != 1 or index.shape[0] != n:
        raise InputError(f"target must be one index, or one per sample ({n}); got shape {tuple(index.shape)}")
    index = index.long().cpu().clone()
    low, high = (int(v) for v in torch.aminmax(index))
    if low < 0 or high >= width:
        raise InputError(
            f"target {low if low < 0 else high} is out of range: the model has {width} output(s), valid targets are 0..{width - 1}"
        )
    return Target(index=index)
