"""What every evaluation metric shares: how it is called, what it returns, and the registry.

A metric scores explanations of a model on inputs. It takes the model (any adapter input), the
inputs, the targets and either a finished explanation (an `Attribution` or an array shaped like
the inputs) or a method to re-run (an `Explainer`, or a registered method name): metrics that
perturb the model or the inputs (robustness, randomisation) need the method. It returns a
`MetricResult`: one score per example, their summary, and which direction is better.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from ..errors import InputError
from ..explainer import Explainer
from ..explanation import Attribution, Explanation
from ..model import ModelAdapter, adapt
from ..targets import Target

CATEGORIES = ("faithfulness", "robustness", "randomisation", "complexity", "localisation")
_METRICS: dict[str, type["Metric"]] = {}


@dataclass
class MetricResult(Explanation):
    """Scores of one metric: `scores` (n,) per example, `summary` their mean (or the metric's own
    aggregate), `higher_is_better`, and optional `curves` (n, steps) for curve metrics."""

    metric: str = ""
    scores: np.ndarray = None
    summary: float = float("nan")
    higher_is_better: bool = True
    curves: np.ndarray | None = None
    details: dict[str, Any] | None = None
    kind: ClassVar[str] = "metric_result"

    def __post_init__(self):
        self.scores = np.asarray(self.scores, dtype=np.float64)
        if np.isnan(self.summary):
            self.summary = float(np.nanmean(self.scores)) if self.scores.size else float("nan")


class Metric:
    """Base of metrics: settings in __init__ (keywords with defaults, a `seed` where random),
    work in `evaluate`. Subclasses set `name`, `category`, `higher_is_better`, `needs_method`
    and implement `score`.
    """

    name: ClassVar[str]
    category: ClassVar[str]
    higher_is_better: ClassVar[bool] = True
    needs_method: ClassVar[bool] = False
    # False for metrics that only re-run the method (seed stability): no explanation is computed for them
    needs_explanation: ClassVar[bool] = True

    def evaluate(self, model: Any, inputs: Any, target: Any = None, explanation: Any = None, method: Any = None,
                 **context) -> MetricResult:
        """Score the explanation (or the method) of `model` on `inputs` for `target`.

        `context` carries what some metrics need besides, e.g. `mask` (ground-truth regions) for
        localisation metrics.
        """
        adapter = adapt(model)
        inputs = self.check_inputs(adapter, inputs)
        resolved = target if isinstance(target, Target) else self.resolve_target(adapter, inputs, target)
        explainer = as_explainer(method, adapter) if method is not None else None
        if explanation is None:
            if explainer is None:
                raise InputError(f"{self.name} needs an explanation or a method to compute one")
            if self.needs_explanation:
                explanation = explainer.explain(inputs, target=resolved_indices(resolved))
        elif self.needs_method and explainer is None:
            raise InputError(f"{self.name} re-runs the explanation method, so it needs method=..., not only a finished explanation")
        values = None if explanation is None else self.attributions(explanation, inputs)
        scores, extras = self.score(adapter, inputs, resolved, values, explainer, **context)
        return MetricResult(metric=self.name, scores=scores.detach().cpu().double().numpy(), higher_is_better=self.higher_is_better,
                            provenance={"metric": self.name, "settings": self.settings()}, **extras)

    def check_inputs(self, model: ModelAdapter, inputs: Any) -> Any:
        """Validated inputs on the model's device (metrics that take texts override this)."""
        return model.check_inputs(inputs)

    def resolve_target(self, model: ModelAdapter, inputs: Any, target: Any) -> Target:
        """The explained output per example (argmax when None)."""
        return model.resolve_target(inputs, target)

    def attributions(self, explanation: Any, inputs: Any) -> torch.Tensor:
        """The explanation as the tensor `score` takes: by default shaped like the inputs."""
        return attribution_tensor(explanation, inputs)

    def score(self, model: ModelAdapter, inputs: torch.Tensor, target: Target, attributions: torch.Tensor,
              method: Explainer | None, **context) -> tuple[torch.Tensor, dict[str, Any]]:
        """Per-example scores (n,) and extras for MetricResult (`curves`, `details`, `summary`)."""
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.startswith("_") and isinstance(v, (int, float, str, bool, type(None)))}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.settings().items())})"


def register_metric(cls: type[Metric]) -> type[Metric]:
    """Class decorator: make the metric findable by name (`get_metric`, `metrics`)."""
    if cls.category not in CATEGORIES:
        raise ValueError(f"{cls.__name__}.category must be one of {CATEGORIES}")
    _METRICS[cls.name] = cls
    return cls


def get_metric(name: str) -> type[Metric]:
    if name not in _METRICS:
        import difflib

        close = difflib.get_close_matches(name, list(_METRICS), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; metrics are {', '.join(sorted(_METRICS))}"
        raise InputError(f"unknown metric {name!r}{hint}")
    return _METRICS[name]


def metrics(category: str | None = None) -> list[type[Metric]]:
    """The registered metrics, optionally of one category."""
    return [m for m in _METRICS.values() if category is None or m.category == category]


def as_explainer(method: Any, model: ModelAdapter) -> Explainer:
    """An Explainer bound to `model`: an Explainer is re-bound as is; a name builds the registered method."""
    from ..taxonomy import get_method

    if isinstance(method, Explainer):
        return method
    if isinstance(method, str):
        return get_method(method)(model)
    if isinstance(method, tuple) and len(method) == 2 and isinstance(method[0], str):
        return get_method(method[0])(model, **method[1])
    raise InputError(f"method must be an Explainer, a method name or (name, settings); got {type(method).__name__}")


def resolved_indices(target: Target) -> Any:
    return target.index if target.index is not None else target.function


def attribution_tensor(explanation: Any, inputs: torch.Tensor) -> torch.Tensor:
    """Attributions as a tensor shaped like `inputs` (a clear error when they are not).

    Class-activation maps of one channel (n, 1, H, W) are broadcast over the input channels.
    """
    values = explanation.input_values() if isinstance(explanation, Attribution) else explanation
    values = torch.as_tensor(np.asarray(values) if not isinstance(values, torch.Tensor) else values)
    values = values.to(device=inputs.device, dtype=inputs.dtype)
    if values.shape != inputs.shape:
        if values.ndim == inputs.ndim and values.shape[0] == inputs.shape[0] and values.shape[1] == 1 and values.shape[2:] == inputs.shape[2:]:
            return values.expand_as(inputs)
        raise InputError(f"the explanation has shape {tuple(values.shape)} but the inputs have shape {tuple(inputs.shape)}")
    return values
