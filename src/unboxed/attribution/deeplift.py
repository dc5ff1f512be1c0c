"""DeepLIFT with the rescale rule (Shrikumar et al. 2017), and DeepLIFT-SHAP over a baseline distribution.

Each nonlinearity y = f(x) back-propagates the multiplier (f(x) - f(x')) / (x - x') of the input
and its reference x' (the gradient where x and x' nearly coincide); linear ops (conv, linear,
BatchNorm in eval, pooling by averages, sums) keep their ordinary gradient, which is their
multiplier. Max pooling routes each output's difference to the positions that won in the input
and in the reference (Captum's rule), divided by the input difference there. The attributions
(x - x') * m then add up to f(x) - f(x') exactly.

The reference pass runs first and records every nonlinearity's input in call order; the pass on
the inputs replays them in the same order. Both are seen by a `TorchFunctionMode`, as in
`backward_rules`, so functional activations, reused modules and residual blocks need nothing.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from ..errors import InputError
from ..explanation import Attribution
from ..taxonomy import Access, Engagement, Format, MethodInfo, Scope, register
from ..targets import Target
from .backward_rules import ActivationRule, _bounds
from .base import AttributionExplainer
from .relevance_mode import UNARY_ACTIVATIONS, suspended

MAX_POOLS = {F.max_pool1d, F.max_pool2d, F.max_pool3d, torch.max_pool1d, torch.max_pool2d, torch.max_pool3d}
_WITH_INDICES = {F.max_pool1d: F.max_pool1d, F.max_pool2d: F.max_pool2d, F.max_pool3d: F.max_pool3d,
                 torch.max_pool1d: F.max_pool1d, torch.max_pool2d: F.max_pool2d, torch.max_pool3d: F.max_pool3d}
EPS = 1e-10  # |x - x'| below this: the gradient stands in for the difference quotient (as Captum)


def _nonlinear(func, args, kwargs) -> bool:
    return _bounds(func, args, kwargs) is not None or func in UNARY_ACTIVATIONS or func in MAX_POOLS


def _plain(func, args, kwargs):
    """The call without in-place writing (the recorded and replayed values must stay intact)."""
    found = _bounds(func, args, kwargs)
    if found is not None and found[3]:
        inputs, low, high, _ = found
        return lambda x: x.clamp(min=low, max=None if high == float("inf") else high)
    rest = {k: v for k, v in kwargs.items() if k != "inplace"}
    return lambda x: func(x, *args[1:], **rest)


class _Recorder(TorchFunctionMode):
    """The reference pass: keeps each nonlinearity's input, in call order."""

    def __init__(self):
        super().__init__()
        self.inputs: list[torch.Tensor] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if _nonlinear(func, args, kwargs) and isinstance(args[0], torch.Tensor):
            self.inputs.append(args[0].detach().clone())
        return func(*args, **kwargs)


class _Rescale(torch.autograd.Function):
    """y = f(x) with the rescale multiplier (f(x) - f(x')) / (x - x') as its backward."""

    @staticmethod
    def forward(ctx, inputs, reference, compute, clamp):
        output = compute(inputs)
        ctx.compute, ctx.clamp = compute, clamp
        ctx.save_for_backward(inputs, reference, output, compute(reference))
        return output

    @staticmethod
    def backward(ctx, grad):
        inputs, reference, output, reference_output = ctx.saved_tensors
        if ctx.clamp is not None:  # the ReLU family: its gradient from aten's fused kernel
            plain = _GRADIENT.backward(grad, inputs, *ctx.clamp)
        else:
            with torch.enable_grad(), suspended():
                leaf = inputs.detach().requires_grad_(True)
                (plain,) = torch.autograd.grad(ctx.compute(leaf), leaf, grad)
        return _rescaled(grad * (output - reference_output), inputs - reference, plain), None, None, None


class _RescalePool(torch.autograd.Function):
    """Max pooling: each output's difference goes to the winners in the input and in the reference
    (Captum's cross-maximum rule), divided by the input difference there. `pool(x)` gives
    (output, flat indices of the winners within each channel)."""

    @staticmethod
    def forward(ctx, inputs, reference, pool):
        output, winners = pool(inputs)
        reference_output, reference_winners = pool(reference)
        ctx.save_for_backward(inputs, reference, output, reference_output, winners, reference_winners)
        return output

    @staticmethod
    def backward(ctx, grad):
        inputs, reference, output, reference_output, winners, reference_winners = ctx.saved_tensors
        top = torch.maximum(output, reference_output)
        plain = _route(grad, winners, inputs)
        moved = _route(grad * (top - reference_output), winners, inputs) + _route(grad * (output - top), reference_winners, inputs)
        return _rescaled(moved, inputs - reference, plain), None, None


def _route(values: torch.Tensor, winners: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Each pooled value added at its winner's position (the max-pool gradient, by indices)."""
    routed = torch.zeros(like.shape[:2] + (like[0, 0].numel(),), dtype=values.dtype, device=values.device)
    return routed.scatter_add_(2, winners.flatten(2), values.flatten(2)).view_as(like)


def _rescaled(moved: torch.Tensor, delta_in: torch.Tensor, plain: torch.Tensor) -> torch.Tensor:
    """moved / delta_in, and the plain gradient where the input hardly differs from its reference
    (the quotient computed there is discarded)."""
    return torch.where(delta_in.abs() < EPS, plain, moved / delta_in)


_GRADIENT = ActivationRule()


class _Replay(TorchFunctionMode):
    """The pass on the inputs: every nonlinearity takes its recorded reference input, in order."""

    def __init__(self, references: list[torch.Tensor]):
        super().__init__()
        self.references, self.calls = references, 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if not torch.is_grad_enabled() or not _nonlinear(func, args, kwargs) or not isinstance(args[0], torch.Tensor):
            return func(*args, **kwargs)
        if self.calls >= len(self.references):
            raise InputError("the model ran more nonlinearities on the inputs than on the reference: DeepLIFT needs the "
                             "same forward path for both (data-dependent control flow is not supported)")
        reference = self.references[self.calls]
        self.calls += 1
        inputs = args[0]
        if reference.shape != inputs.shape:
            raise InputError(f"a nonlinearity saw shape {tuple(inputs.shape)} on the inputs but {tuple(reference.shape)} "
                             "on the reference: give a baseline shaped like the inputs")
        if func in MAX_POOLS:
            pool = _WITH_INDICES[func]
            return _RescalePool.apply(inputs, reference, lambda x: pool(x, *args[1:], **{**kwargs, "return_indices": True}))
        compute = _plain(func, args, kwargs)
        found = _bounds(func, args, kwargs)
        clamp = None if found is None else (found[1], found[2])
        if found is not None and found[3]:  # in place: the saved input must be a copy
            return inputs.copy_(_Rescale.apply(inputs.clone(), reference, compute, clamp))
        return _Rescale.apply(inputs, reference, compute, clamp)


@dataclass
class DeepLiftAttribution(Attribution):
    """An Attribution with DeepLIFT's `multipliers` (d score / d input under the rescale rule) and the
    `baselines` it was measured from: values = (inputs - baselines) * multipliers."""

    multipliers: np.ndarray | None = None
    baselines: np.ndarray | None = None
    kind: ClassVar[str] = "deeplift_attribution"
    row_fields: ClassVar[tuple[str, ...]] = Attribution.row_fields + ("multipliers", "baselines")


def _baselines(baselines: Any, inputs: torch.Tensor) -> torch.Tensor:
    if isinstance(baselines, str):
        if baselines != "zeros":
            raise InputError(f"baselines must be 'zeros' or a tensor, got {baselines!r}")
        return torch.zeros_like(inputs)
    tensor = torch.as_tensor(baselines, dtype=inputs.dtype, device=inputs.device)
    if tensor.shape == inputs.shape[1:]:
        tensor = tensor.unsqueeze(0)
    if tensor.shape[1:] != inputs.shape[1:] or len(tensor) not in (1, len(inputs)):
        raise InputError(f"the baseline has shape {tuple(tensor.shape)}; give one input's shape {tuple(inputs.shape[1:])}, "
                         f"or one baseline per input {tuple(inputs.shape)}")
    return tensor.expand_as(inputs)


@register
class DeepLift(AttributionExplainer):
    """DeepLIFT, rescale rule (Shrikumar et al. 2017): contributions (x - x') * m that add up to
    f(x) - f(x') exactly; `delta` reports the sum's gap (zero up to rounding). `baselines`: "zeros",
    one input-shaped tensor, or one per input. The result carries the `multipliers`.

    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    >>> result = DeepLift(net).explain(torch.rand(2, 3), target=1)
    >>> bool(abs(result.delta).max() < 1e-5), result.multipliers.shape
    (True, (2, 3))
    """

    info = MethodInfo(
        "deeplift", Engagement.PASSIVE, Format.ATTRIBUTION, Scope.LOCAL, Access.GRADIENTS,
        "differences from a reference, passed back by multipliers that add up exactly", "Shrikumar et al. 2017",
    )

    def __init__(self, model, baselines: Any = "zeros"):
        super().__init__(model)
        self.baselines = baselines

    def explain(self, inputs: Any, target: Any = None, feature_names: list[str] | None = None) -> DeepLiftAttribution:
        result = super().explain(inputs, target=target, feature_names=feature_names)
        fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
        return DeepLiftAttribution(**fields, multipliers=self._multipliers, baselines=self._references)

    def attribute(self, inputs: torch.Tensor, target: Target):
        references = _baselines(self.baselines, inputs)
        values, multipliers, scores, base = contributions(self.model, inputs, references, target)
        self._multipliers, self._references = multipliers.cpu().numpy(), references.detach().cpu().numpy()
        delta = values.flatten(1).sum(1) - (scores - base)
        return values, {"scores": scores, "delta": delta, "base": base}


def contributions(model, inputs: torch.Tensor, references: torch.Tensor, target: Target):
    """(contributions, multipliers, scores f(x), reference scores f(x')) for every input and its
    reference, in chunks under the memory budget: a reference pass, then a replayed gradient pass."""
    size = model.chunk_size(inputs, with_grad=True)
    parts = []
    with model.preserved():
        for start in range(0, len(inputs), size):
            chunk, reference = inputs[start : start + size], references[start : start + size].contiguous()
            part_target = target.take(slice(start, start + size))
            recorder = _Recorder()
            with torch.no_grad(), recorder:
                base = part_target.select(model._call(reference))
            with _Replay(recorder.inputs):
                multipliers, scores, _ = model.gradients(chunk, part_target)
            parts.append(((chunk - reference) * multipliers, multipliers, scores, base))
    return tuple(torch.cat([p[i] for p in parts]) for i in range(4))


@register
class DeepLiftShap(AttributionExplainer):
    """DeepLIFT-SHAP (Lundberg & Lee 2017): DeepLIFT from every row of a `background` set, averaged,
    so the attributions add up to f(x) - E_background f (the result's `base`).

    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    >>> result = DeepLiftShap(net, background=torch.rand(5, 3)).explain(torch.rand(2, 3), target=0)
    >>> bool(abs(result.delta).max() < 1e-5)
    True
    """

    info = MethodInfo(
        "deeplift_shap", Engagement.PASSIVE, Format.ATTRIBUTION, Scope.LOCAL, Access.GRADIENTS,
        "DeepLIFT averaged over a background distribution of references", "Lundberg & Lee 2017",
    )

    def __init__(self, model, background: Any):
        super().__init__(model)
        self.background = background

    def attribute(self, inputs: torch.Tensor, target: Target):
        background = torch.as_tensor(self.background, dtype=inputs.dtype, device=inputs.device)
        if background.ndim != inputs.ndim or background.shape[1:] != inputs.shape[1:] or not len(background):
            raise InputError(f"the background must be rows shaped like the inputs {tuple(inputs.shape[1:])}; "
                             f"got {tuple(background.shape)}")
        k = len(background)
        repeated = inputs.repeat_interleave(k, dim=0)
        references = background.repeat(len(inputs), *([1] * (inputs.ndim - 1)))
        index = target.index.repeat_interleave(k) if target.index is not None else None
        expanded = Target(index=index, function=target.function)
        values, _, scores, base = contributions(self.model, repeated, references, expanded)
        values = values.view(len(inputs), k, *inputs.shape[1:]).mean(1)
        scores, base = scores.view(len(inputs), k)[:, 0], base.view(len(inputs), k).mean(1)
        delta = values.flatten(1).sum(1) - (scores - base)
        return values, {"scores": scores, "delta": delta, "base": base}
