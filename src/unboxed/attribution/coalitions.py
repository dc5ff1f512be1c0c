"""CoalitionGame: the value of keeping only some features, for many rows, in big batched model calls.

v_i(S) is the mean target score, over the masker's background, of row i with only the features
in S kept. Every perturbation method (ablation, LIME, LEMNA, Shapley values) is a way of
choosing coalitions and combining their values; this is the one place that evaluates them.
"""
from __future__ import annotations

from typing import Any

import torch
from tqdm.auto import tqdm

from ..errors import InputError
from ..maskers import Features, Masker
from ..model import ModelAdapter
from ..targets import Target


class CoalitionGame:
    """Values of coalitions of interpretable features of `inputs` (see the module docstring).

    >>> import torch
    >>> from unboxed import adapt
    >>> from unboxed.maskers import TabularMasker
    >>> masker = TabularMasker(fill=0.0)
    >>> x = masker.check(torch.tensor([[1.0, 2.0]]))
    >>> game = CoalitionGame(adapt(lambda b: b.sum(1)), masker, x, Target(index=torch.tensor([0])), masker.features(x))
    >>> game.values(torch.tensor([0, 0]), torch.tensor([[True, False], [True, True]])).tolist()
    [1.0, 3.0]
    """

    def __init__(self, model: ModelAdapter, masker: Masker, inputs: Any, target: Target, features: Features,
                 show_progress: bool = False, label: str = "coalitions"):
        self.model, self.masker, self.inputs, self.target, self.features = model, masker, inputs, target, features
        self.show_progress, self.label = show_progress, label
        sample = masker.sizing_sample(inputs)
        per_call = model.chunk_size(sample if sample is not None else inputs)
        self.coalitions_per_call = max(1, per_call // masker.n_background)
        self.model_inputs = 0  # how many model inputs have been evaluated, for reports and tests

    @property
    def width(self) -> int:
        return self.features.width

    @property
    def n_rows(self) -> int:
        return len(self.features.counts)

    def values(self, rows: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """v_rows[j](keep[j]) for every j, in float64: `rows` (m,), `keep` (m, width) boolean."""
        rows = rows.to(torch.long)
        keep = keep.to(torch.bool)
        if keep.ndim != 2 or keep.shape[1] != self.width or len(rows) != len(keep):
            raise InputError(f"coalitions must be (m, {self.width}) with one row index each; got {tuple(keep.shape)}")
        device = self.features.segments.device if self.features.segments is not None else torch.device("cpu")
        rows, keep = rows.to(device), keep.to(device)
        with self.model.preserved():  # one snapshot of the model for all the calls below
            return self._evaluate(rows, keep)

    def _evaluate(self, rows: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        # Per chunk only the masking and the model call: a chunk of a small model takes well under a
        # millisecond, so every other tensor op per chunk would show in the time.
        n_background, step = self.masker.n_background, self.coalitions_per_call
        starts = range(0, len(rows), step)
        targets = self.target.take(rows.cpu())  # one per coalition; each stands for n_background inputs
        one_class = targets.single_class()  # decided once: a broadcast index per chunk, no per-chunk check
        # written in place: small results kept alive per chunk fragment the heap under the big
        # temporaries, which then take fresh pages every chunk (measured: 20% of a small model's time)
        value, batch = torch.empty(len(rows), dtype=torch.float64), None
        for start in tqdm(starts, desc=self.label, unit="batch", disable=not self.show_progress or len(starts) < 2):
            part = slice(start, start + step)
            batch = self.masker.mask(self.inputs, self.features, rows[part], keep[part], out=batch)
            count = min(step, len(rows) - start) * n_background
            target = Target(index=one_class.expand(count)) if one_class is not None else targets.take(part).repeat_each(n_background)
            scores = self.model.evaluate(batch, target)
            # summed in float64 without a float64 copy of the scores; done with the batch after this
            value[part] = scores.detach().view(-1, n_background).sum(1, dtype=torch.float64).cpu() / n_background
        self.model_inputs += len(rows) * n_background
        self._check_finite(value, rows, keep)
        return value

    def full(self) -> torch.Tensor:
        """v_i(all features) for every row."""
        return self.values(torch.arange(self.n_rows), self._all(True))

    def empty(self) -> torch.Tensor:
        """v_i(no feature) for every row: the base value."""
        return self.values(torch.arange(self.n_rows), self._all(False))

    def _all(self, keep: bool) -> torch.Tensor:
        return torch.full((self.n_rows, self.width), keep, dtype=torch.bool)

    def _check_finite(self, value: torch.Tensor, rows: torch.Tensor, keep: torch.Tensor) -> None:
        bad = ~torch.isfinite(value)
        if bool(bad.any()):
            j = int(bad.nonzero()[0, 0])
            row = int(rows[j])
            count = int(self.features.counts[row])
            names = self.features.names_of(row)
            removed = [names[f] for f in range(count) if not bool(keep[j, f])]
            raise InputError(
                f"the model returned {float(value[j])} for row {row} with these features removed: "
                f"{removed if len(removed) <= 12 else removed[:12] + ['...']}; the model must give finite "
                "scores on masked inputs (check the masker's fill values)"
            )
