"""What every attribution method shares: input checks, target resolution, provenance, packaging."""
from __future__ import annotations

from typing import Any

import torch

from ..explainer import Explainer
from ..explanation import Attribution, provenance
from ..model import describe_model
from ..targets import Target


def infer_layout(inputs: torch.Tensor) -> str:
    """How to draw attributions of inputs of this shape."""
    return {2: "tabular", 3: "sequence", 4: "image"}.get(inputs.ndim, "tensor")


class AttributionExplainer(Explainer):
    """Base of attribution methods: subclasses implement `attribute(inputs, target)`.

    `attribute` gets validated inputs on the model's device and a resolved `Target`; it returns
    the attribution tensor and optionally a dict of extras (`delta`, `scores`).
    """

    seed: int | None = None

    def explain(self, inputs: Any, target: Any = None, feature_names: list[str] | None = None) -> Attribution:
        """Attribute the target score of every sample in `inputs` to its input features.

        `target`: None (the predicted class), a class index, one index per sample, or a callable
        mapping the model's outputs (n, ...) to one score per sample (regression, multi-output).
        """
        inputs = self.model.check_inputs(inputs)
        resolved = self.model.resolve_target(inputs, target)
        values, extras = self._attribute_with_extras(inputs, resolved)
        scores = extras.get("scores")
        if scores is None:
            scores = self.model.scores(inputs, resolved)
        delta = extras.get("delta")
        return Attribution(
            provenance=provenance(self.info.name, self.settings(), self.seed, describe_model(self.model)),
            values=values.detach().cpu().numpy(),
            inputs=inputs.detach().cpu().numpy(),
            scores=scores.detach().cpu().numpy(),
            target=resolved.as_list(),
            delta=None if delta is None else delta.detach().cpu().numpy(),
            base=None if extras.get("base") is None else extras["base"].detach().cpu().double().numpy(),
            layout=infer_layout(inputs),
            feature_names=feature_names,
        )

    def _attribute_with_extras(self, inputs: torch.Tensor, target: Target) -> tuple[torch.Tensor, dict]:
        result = self.attribute(inputs, target)
        return result if isinstance(result, tuple) else (result, {})

    def attribute(self, inputs: torch.Tensor, target: Target) -> torch.Tensor | tuple[torch.Tensor, dict]:
        """Raw attribution tensor for validated inputs and a resolved target (no packaging)."""
        raise NotImplementedError
