"""Texts in metrics that re-run the explanation method (seed stability, random logit): the texts go to
the method as they are, the targets are read from the model's outputs, and the values stay per word."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..explanation import FeatureAttribution
from ..model import ModelAdapter
from ..targets import Target, resolve_target
from .base import attribution_tensor
from .removal import is_text


class TextInputs:
    """Mixin for a `Metric`: tensors are checked as usual, lists of texts pass unchanged.

    >>> from unboxed import adapt
    >>> TextInputs().check_inputs(adapt(lambda x: x), ["a film", "a book"])
    ['a film', 'a book']
    """

    def check_inputs(self, model: ModelAdapter, inputs: Any) -> Any:
        return list(inputs) if is_text(inputs) else model.check_inputs(inputs)

    def resolve_target(self, model: ModelAdapter, inputs: Any, target: Any) -> Target:
        if isinstance(inputs, torch.Tensor):
            return model.resolve_target(inputs, target)
        return resolve_target(target, model.outputs(np.asarray(inputs, dtype=str)))

    def attributions(self, explanation: Any, inputs: Any) -> torch.Tensor:
        return per_input_values(explanation, inputs)


def per_input_values(explanation: Any, inputs: Any) -> torch.Tensor:
    """An explanation as a tensor: shaped like tensor inputs, or (texts, words) for texts."""
    if isinstance(inputs, torch.Tensor):
        return attribution_tensor(explanation, inputs)
    values = explanation.values if isinstance(explanation, FeatureAttribution) else explanation
    return torch.as_tensor(np.asarray(values, dtype=np.float64))


def output_width(model: ModelAdapter, inputs: Any) -> int:
    """The number of outputs per input (a tensor's or a text's)."""
    sample = inputs[:1] if isinstance(inputs, torch.Tensor) else np.asarray(inputs[:1], dtype=str)
    return int(np.prod(model.outputs(sample).shape[1:]))
