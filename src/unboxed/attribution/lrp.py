"""Layer-wise relevance propagation (Bach et al. 2015; Montavon et al. 2019) with composites of rules."""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Callable, Mapping

import torch

from ..errors import InputError
from ..taxonomy import Access, Engagement, Format, MethodInfo, Scope, register
from ..targets import Target
from .base import AttributionExplainer
from .canonizers import merged_batch_norm
from .relevance_mode import RelevanceMode, parameter_owners
from .relevance_rules import AlphaBeta, Epsilon, Flat, Gamma, Rule, ZBox, ZPlus


SUMS = ("proportional", "positive")


@dataclass
class Composite:
    """Which rule each linear layer gets: `layers` by exact layer name first, then `first` for the
    first linear layer of the forward pass (nearest the input), then by kind (`conv` or `linear`).
    `sums`: how a sum of two activations (a residual connection) shares relevance: "proportional"
    to the summands, or "positive" (to the summands of the output's sign, so no share is negative;
    with z+ rules relevance then stays conserved through residual blocks).

    >>> composite = Composite(conv=ZPlus(), first=Flat())
    >>> [type(composite.choose(kind, name, i)).__name__ for i, (kind, name) in enumerate([("conv", "c1"), ("conv", "c2"), ("linear", "fc")])]
    ['Flat', 'ZPlus', 'Epsilon']
    """

    linear: Rule = field(default_factory=Epsilon)
    conv: Rule = field(default_factory=Epsilon)
    first: Rule | None = None
    layers: dict[str, Rule] = field(default_factory=dict)
    sums: str = "proportional"

    def __post_init__(self):
        if self.sums not in SUMS:
            raise InputError(f"sums must be one of {', '.join(SUMS)}, got {self.sums!r}")

    def choose(self, kind: str, name: str, position: int) -> Rule:
        if name in self.layers:
            return self.layers[name]
        if position == 0 and self.first is not None:
            return self.first
        return self.conv if kind == "conv" else self.linear


COMPOSITES: dict[str, Callable[..., Composite]] = {
    "epsilon": lambda: Composite(),
    "lrp0": lambda: Composite(linear=Epsilon(0.0), conv=Epsilon(0.0)),
    "epsilon_plus": lambda: Composite(conv=ZPlus()),
    "epsilon_plus_flat": lambda: Composite(conv=ZPlus(), first=Flat()),
    "epsilon_alpha2_beta1": lambda: Composite(conv=AlphaBeta(2.0, 1.0)),
    "epsilon_alpha2_beta1_flat": lambda: Composite(conv=AlphaBeta(2.0, 1.0), first=Flat()),
    "epsilon_gamma_box": lambda low=None, high=None: Composite(conv=Gamma(0.25), first=ZBox(low, high)),
}


@register
class LRP(AttributionExplainer):
    """Layer-wise relevance propagation: the target score is passed back layer by layer, each linear
    layer dividing its relevance among its inputs by a rule (see `relevance_rules`), so that the
    input relevance adds up to the score (exactly for conserving rules on bias-free networks).

    `composite`: a preset name (`COMPOSITES`: "epsilon_plus_flat", "epsilon_gamma_box", "lrp0",
    ...) or a `Composite`; `rules`: {layer name: Rule}, overriding the composite for those layers;
    `canonize`: fold BatchNorm into the layer before it for the duration (restored after);
    `low`/`high`: the box of the z^B rule in "epsilon_gamma_box" (the bounds of the first layer's
    inputs; default: their minimum and maximum over the explained batch); `stabiliser`: the eps of
    the sums, pools and BatchNorm layers' own rules. The result's `delta`
    is sum(relevance) - score per sample: what the rules did not conserve (biases, epsilon).

    Works wherever the ops are called: functional activations, reused modules, residual sums,
    depthwise convolutions; an op with parameters no rule covers is an error naming the layer.

    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4, bias=False), torch.nn.ReLU(), torch.nn.Linear(4, 2, bias=False))
    >>> result = LRP(net, composite="epsilon_plus").explain(torch.rand(2, 3), target=0)
    >>> bool(abs(result.delta).max() < 1e-4)
    True
    """

    info = MethodInfo(
        "lrp", Engagement.PASSIVE, Format.ATTRIBUTION, Scope.LOCAL, Access.INTERNALS,
        "relevance passed back layer by layer under conserving rules", "Bach et al. 2015; Montavon et al. 2019",
    )

    def __init__(self, model, composite: str | Composite = "epsilon_plus_flat", rules: Mapping[str, Rule] | None = None,
                 canonize: bool = True, low: float | torch.Tensor | None = None, high: float | torch.Tensor | None = None,
                 stabiliser: float = 1e-6):
        super().__init__(model)
        if isinstance(composite, str) and composite not in COMPOSITES:
            raise InputError(f"unknown composite {composite!r}; presets: {', '.join(COMPOSITES)} (or give a Composite)")
        if not isinstance(composite, (str, Composite)):
            raise InputError(f"composite must be a preset name or a Composite, got {type(composite).__name__}")
        for name, rule in (rules or {}).items():
            if not isinstance(rule, Rule):
                raise InputError(f"rules[{name!r}] must be an LRP Rule (Epsilon(), ZPlus(), ...), got {rule!r}")
        self.composite, self.rules, self.canonize, self.low, self.high = composite, dict(rules or {}), canonize, low, high
        self.stabiliser = float(stabiliser)

    def built_composite(self, inputs: torch.Tensor) -> Composite:
        """The composite with the layer overrides and, for a box rule without bounds, the bounds of
        the first layer's inputs over `inputs`."""
        if isinstance(self.composite, Composite):
            composite = Composite(self.composite.linear, self.composite.conv, self.composite.first, dict(self.composite.layers),
                                  self.composite.sums)
        elif self.composite == "epsilon_gamma_box":
            composite = COMPOSITES["epsilon_gamma_box"](self.low, self.high)
        else:
            composite = COMPOSITES[self.composite]()
        composite.layers.update(self.rules)
        if isinstance(composite.first, ZBox) and (composite.first.low is None or composite.first.high is None):
            low, high = self._first_layer_range(inputs)
            composite.first = ZBox(low if composite.first.low is None else composite.first.low,
                                   high if composite.first.high is None else composite.first.high, composite.first.eps)
        return composite

    def attribute(self, inputs: torch.Tensor, target: Target):
        module = self.model.module
        with self.model.preserved():
            canonizer = merged_batch_norm(module, inputs[:1]) if self.canonize else nullcontext([])
            with canonizer as pairs:
                composite = self.built_composite(inputs)
                merged = {id(pair.norm.weight) for pair in pairs}
                with RelevanceMode(composite.choose, parameter_owners(module), self.stabiliser, merged, set(composite.layers),
                                   composite.sums):
                    grads, scores, _ = self.model.gradients(inputs, target)
        # relevance is linear in what enters at the output: seeded with 1, scaled by the score
        values = grads * scores.view(-1, *([1] * (grads.ndim - 1))).to(grads.dtype)
        delta = values.flatten(1).sum(1) - scores.to(values.dtype)
        return values, {"scores": scores, "delta": delta}

    def _first_layer_range(self, inputs: torch.Tensor) -> tuple[float, float]:
        seen: list[torch.Tensor] = []

        def choose(kind, name, position):
            return _Recorder(seen) if position == 0 else Epsilon()

        with RelevanceMode(choose, parameter_owners(self.model.module)):
            self.model.gradients(inputs, self.model.resolve_target(inputs, 0))
        values = torch.cat([s.flatten() for s in seen])
        return float(values.min()), float(values.max())


class _Recorder(Epsilon):
    """Epsilon, noting the inputs it sees (to find the first layer's input range)."""

    def __init__(self, seen: list):
        super().__init__()
        self.seen = seen

    def relevance(self, op, x, z, relevance):
        self.seen.append(x.detach())
        return super().relevance(op, x, z, relevance)
