"""Removal: how the faithfulness metrics take features away from an input, and which features there are.

A metric that removes features and watches the score (deletion, pixel flipping, faithfulness
correlation, infidelity, comprehensiveness) asks the removal for a `CoalitionGame`, so every
perturbed input of every example is evaluated in a few big batched model calls. The removal is:

- a number: every removed element takes this value (a baseline);
- "blur" or "mean" (images only): a blurred copy / the image's mean colour;
- a tensor shaped like one input or like all inputs: a baseline input;
- a shared `Masker`: its features (superpixels, table columns or groups, words) and its fill.

Without a masker, images (n, C, H, W) lose whole pixels (all channels at once) and any other
tensor loses single elements. An attribution map is summed over each feature's elements; a
`FeatureAttribution` is spread evenly over its features' elements first, so that a per-feature
explanation scored with the masker that made it keeps exactly its own values.
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch

from ..attribution.coalitions import CoalitionGame
from ..choosing import choose
from ..errors import InputError
from ..explanation import FeatureAttribution
from ..maskers import Features, ImageMasker, Masker, TextMasker
from ..model import ModelAdapter
from ..targets import Target, resolve_target
from ..validation import as_tensor, check_choice
from .base import Metric, attribution_tensor


class ElementMasker(Masker):
    """Every element of a sample is a feature; a removed one takes `fill` (a number, or a tensor
    shaped like one sample or like all inputs).

    >>> import torch
    >>> masker = ElementMasker(fill=-1.0)
    >>> x = masker.check(torch.ones(1, 3))
    >>> masker.mask(x, masker.features(x), torch.tensor([0]), torch.tensor([[True, False, True]])).tolist()
    [[1.0, -1.0, 1.0]]
    """

    kind = "tensor"

    def __init__(self, fill: float | Any = 0.0):
        self.fill = fill

    def check(self, inputs: Any) -> torch.Tensor:
        tensor = as_tensor(inputs, "inputs")
        if not isinstance(self.fill, numbers.Real):
            fill = as_tensor(self.fill, "baseline") if not isinstance(self.fill, torch.Tensor) else self.fill
            if tuple(fill.shape) not in (tuple(tensor.shape), tuple(tensor.shape[1:])):
                raise InputError(f"the baseline has shape {tuple(fill.shape)}; it must be shaped like one input "
                                 f"{tuple(tensor.shape[1:])} or like the inputs {tuple(tensor.shape)}")
        return tensor

    def features(self, inputs: torch.Tensor) -> Features:
        shape = inputs.shape[1:]
        size = int(np.prod(shape))
        segments = torch.arange(size, device=inputs.device).view(1, *shape).expand(len(inputs), *shape)
        return Features(counts=np.full(len(inputs), size), segments=segments, state={"fill": self._fill(inputs)})

    def _fill(self, inputs: torch.Tensor) -> torch.Tensor:
        if isinstance(self.fill, numbers.Real):
            return torch.full_like(inputs[:1], float(self.fill))
        fill = torch.as_tensor(self.fill, device=inputs.device, dtype=inputs.dtype)
        return fill if fill.shape == inputs.shape else fill[None]

    def mask(self, inputs: torch.Tensor, features: Features, rows: torch.Tensor, keep: torch.Tensor, out=None) -> torch.Tensor:
        fill = features.state["fill"]
        fill = fill[rows] if len(fill) > 1 else fill
        return choose(keep.to(inputs.dtype).view(len(rows), *inputs.shape[1:]), inputs[rows], fill)

    def describe(self) -> dict[str, Any]:
        return {"masker": "elements", "fill": float(self.fill) if isinstance(self.fill, numbers.Real) else "baseline input"}


def is_text(inputs: Any) -> bool:
    """Whether `inputs` are texts (a string, or a list / array of strings).

    >>> is_text(["a film"]), is_text(np.zeros((2, 3)))
    (True, False)
    """
    if isinstance(inputs, str):
        return True
    return isinstance(inputs, (list, tuple, np.ndarray)) and len(inputs) > 0 and isinstance(np.asarray(inputs).flat[0], str)


def check_removal(removal: Any) -> Any:
    """Validate a removal setting (see the module docstring) and return it.

    >>> check_removal("blur")
    'blur'
    """
    if isinstance(removal, str):
        return check_choice(removal, "removal", ("blur", "mean"))
    if isinstance(removal, bool) or not isinstance(removal, (numbers.Real, Masker, torch.Tensor, np.ndarray)):
        raise InputError(f"removal must be a number, 'blur', 'mean', a baseline tensor or a Masker; got {type(removal).__name__}")
    return removal


def removal_masker(removal: Any, inputs: Any) -> Masker:
    """The masker that removes features of `inputs` as `removal` says.

    >>> removal_masker(0.0, np.zeros((2, 1, 4, 4))).describe()["segments"]
    [4, 4]
    """
    if isinstance(removal, Masker):
        return removal
    if is_text(inputs):
        return TextMasker()
    if np.ndim(inputs) == 4:
        height, width = np.shape(inputs)[2:]
        return ImageMasker(segmentation="grid", grid=(height, width), fill=removal)
    if isinstance(removal, str):
        raise InputError(f"removal={removal!r} is for images (n, C, H, W); inputs of shape {tuple(np.shape(inputs))} need a "
                         "number, a baseline tensor or a masker (e.g. TabularMasker(background, fill='mean'))")
    return ElementMasker(removal)


def feature_sums(values: torch.Tensor, segments: torch.Tensor, width: int) -> torch.Tensor:
    """Sum of `values` (shaped like the inputs) over each feature's elements: (n, width) float64.

    >>> feature_sums(torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[0, 1, 0]]), 2).tolist()
    [[4.0, 2.0]]
    """
    n = len(values)
    if segments.ndim < values.ndim:  # image segments (n, H, W): a pixel's relevance is over its channels
        values = values.sum(1)
    flat = values.reshape(n, -1).double()
    owners = segments.reshape(n, -1).to(flat.device)
    return torch.zeros(n, width, dtype=torch.float64, device=flat.device).scatter_add_(1, owners, flat)


def spread_features(explanation: FeatureAttribution, inputs: torch.Tensor) -> torch.Tensor:
    """A per-feature explanation as a map shaped like `inputs` whose feature sums are its values:
    each feature's value is shared evenly among its elements.

    >>> explanation = FeatureAttribution(values=np.array([[4.0, 1.0]]), inputs=np.zeros((1, 3)),
    ...                                  segments=np.array([[0, 0, 1]]))
    >>> spread_features(explanation, torch.zeros(1, 3)).tolist()
    [[2.0, 2.0, 1.0]]
    """
    values = torch.as_tensor(np.asarray(explanation.values), dtype=torch.float64)
    segments = torch.as_tensor(np.asarray(explanation.segments), dtype=torch.long)
    if len(segments) != len(inputs) or tuple(segments.shape[1:]) not in (tuple(inputs.shape[1:]), tuple(inputs.shape[2:])):
        raise InputError(f"the explanation's features cover inputs of shape {tuple(segments.shape)}, not {tuple(inputs.shape)}")
    n = len(values)
    flat = segments.reshape(n, -1)
    sizes = torch.zeros_like(values).scatter_add_(1, flat, torch.ones(flat.shape, dtype=torch.float64))
    per_element = (values / sizes.clamp_min(1)).gather(1, flat).view(segments.shape)
    if segments.ndim < inputs.ndim:
        per_element = per_element[:, None].expand(inputs.shape) / inputs.shape[1]
    return per_element.to(device=inputs.device, dtype=inputs.dtype)


def removal_ranks(values: torch.Tensor, counts: torch.Tensor, most_relevant_first: bool = True) -> torch.Tensor:
    """Position of every feature in the removal order, (n, width): 0 is removed first. Padding
    features (past a row's count) come last; ties keep the features' order.

    >>> removal_ranks(torch.tensor([[0.1, 0.9, 0.5]]), torch.tensor([3])).tolist()
    [[2, 0, 1]]
    """
    key = values if most_relevant_first else -values
    padding = torch.arange(values.shape[1], device=values.device)[None] >= counts.to(values.device)[:, None]
    key = key.masked_fill(padding, -float("inf"))
    order = key.argsort(dim=1, descending=True, stable=True)
    positions = torch.arange(values.shape[1], device=values.device).expand_as(order)
    return torch.empty_like(order).scatter_(1, order, positions)


class RemovalMetric(Metric):
    """Base of metrics that remove features with `removal` (see the module docstring) and compare
    scores. Subclasses call `self.game(...)` and `self.feature_values(...)` in `score`.

    >>> import numpy as np
    >>> class FullScore(RemovalMetric):
    ...     name, category = "full_score", "faithfulness"
    ...     def score(self, model, inputs, target, attributions, method, **context):
    ...         return self.game(model, inputs, target).full(), {}
    >>> FullScore().evaluate(lambda x: x.sum(1), np.ones((1, 3)), target=0, explanation=np.ones((1, 3))).scores.tolist()
    [3.0]
    """

    category = "faithfulness"

    def __init__(self, removal: Any = 0.0):
        self.removal = check_removal(removal)

    def settings(self) -> dict[str, Any]:
        settings = super().settings()
        if not isinstance(self.removal, (numbers.Real, str)):
            settings["removal"] = self.removal.describe() if isinstance(self.removal, Masker) else "baseline tensor"
        return settings

    # --- inputs, targets and explanations: texts have no tensor form -----------------------------
    def check_inputs(self, model: ModelAdapter, inputs: Any) -> Any:
        masker = removal_masker(self.removal, inputs)
        checked = masker.check(inputs)
        if isinstance(checked, torch.Tensor):
            checked = model.check_inputs(checked)
        return checked

    def resolve_target(self, model: ModelAdapter, inputs: Any, target: Any) -> Target:
        if isinstance(inputs, torch.Tensor):
            return model.resolve_target(inputs, target)
        return resolve_target(target, model.outputs(inputs))

    def attributions(self, explanation: Any, inputs: Any) -> torch.Tensor:
        if not isinstance(inputs, torch.Tensor):  # texts: one value per word
            values = explanation.values if isinstance(explanation, FeatureAttribution) else explanation
            values = torch.as_tensor(np.asarray(values, dtype=np.float64))
            if values.ndim != 2 or len(values) != len(inputs):
                raise InputError(f"an explanation of {len(inputs)} texts must be (texts, words); got shape {tuple(values.shape)}")
            return values
        if isinstance(explanation, FeatureAttribution) and explanation.segments is not None:
            return spread_features(explanation, inputs)
        return attribution_tensor(explanation, inputs)

    # --- what subclasses use ----------------------------------------------------------------------
    def game(self, model: ModelAdapter, inputs: Any, target: Target) -> CoalitionGame:
        """The coalition game of `inputs` under this metric's removal."""
        masker = removal_masker(self.removal, inputs)
        return CoalitionGame(model, masker, inputs, target, masker.features(inputs), label=self.name)

    def feature_values(self, attributions: torch.Tensor, game: CoalitionGame) -> torch.Tensor:
        """Attribution of each of the game's features, (n, width) float64 on the CPU."""
        features = game.features
        if features.segments is None:  # texts: already per word
            if attributions.shape[1] < features.width:
                raise InputError(f"the explanation has {attributions.shape[1]} values per text, but the texts have up to "
                                 f"{features.width} words")
            return attributions[:, : features.width].to("cpu", torch.float64)
        return feature_sums(attributions, features.segments, features.width).cpu()

    @staticmethod
    def counts(game: CoalitionGame) -> torch.Tensor:
        """Real features per row, (n,) long."""
        return torch.as_tensor(np.asarray(game.features.counts), dtype=torch.long)


def coalition_rows(n: int, per_row: int) -> torch.Tensor:
    """Row index of each coalition when every row has `per_row` consecutive coalitions.

    >>> coalition_rows(2, 3).tolist()
    [0, 0, 0, 1, 1, 1]
    """
    return torch.arange(n).repeat_interleave(per_row)
