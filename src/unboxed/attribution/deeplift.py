"""DeepLIFT with the rescale or reveal-cancel rule (Shrikumar et al. 2017), and DeepLIFT-SHAP over a baseline distribution.

Each nonlinearity y = f(x) back-propagates the multiplier (f(x) - f(x')) / (x - x') of the input
and its reference x' (the gradient where x and x' coincide: exactly, for the ReLU family, whose
quotient is otherwise always defined; within 1e-10 for smooth activations); linear ops (conv, linear,
BatchNorm in eval, pooling by averages, sums) keep their ordinary gradient, which is their
multiplier. Max pooling routes each output's difference to the positions that won in the input
and in the reference (Captum's rule), divided by the input difference there; a ReLU-family unit
right before it is passed back through in the same step, only where the pool routes. The
attributions (x - x') * m then add up to f(x) - f(x') exactly.

The reference pass runs first and records every nonlinearity's input in call order; the pass on
the inputs replays them in the same order. Both are seen by a `TorchFunctionMode`, as in
`backward_rules`, so functional activations, reused modules and residual blocks need nothing.
"""
from __future__ import annotations

import dataclasses
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from ..choosing import flag
from ..errors import InputError
from ..explanation import Attribution
from ..taxonomy import Access, Engagement, Format, MethodInfo, Scope, register
from ..targets import Target
from ..validation import check_choice
from .backward_rules import _bounds
from .base import AttributionExplainer
from .canonizers import merged_batch_norm
from .conv_transpose import FewTapConv, has_few_taps
from .relevance_mode import (_SUSPENDED, ADDITIONS, CONVOLUTIONS, LINEAR, SUBTRACTIONS, UNARY_ACTIVATIONS, _conv_options,
                             suspended)
from .relevance_rules import LinearOp
from .reveal_cancel import RevealCancelLinear, RevealCancelSum

MAX_POOLS = {F.max_pool1d, F.max_pool2d, F.max_pool3d, torch.max_pool1d, torch.max_pool2d, torch.max_pool3d}
_WITH_INDICES = {F.max_pool1d: F.max_pool1d, F.max_pool2d: F.max_pool2d, F.max_pool3d: F.max_pool3d,
                 torch.max_pool1d: F.max_pool1d, torch.max_pool2d: F.max_pool2d, torch.max_pool3d: F.max_pool3d}
RULES = ("rescale", "reveal_cancel")
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


def _is_sum(func, args, kwargs) -> bool:
    """a + b or a - b of two same-shaped tensors that are not parameters (a residual connection)."""
    if func not in ADDITIONS and func not in SUBTRACTIONS:
        return False
    a, b = args[0], args[1] if len(args) > 1 else kwargs.get("other")
    return all(isinstance(t, torch.Tensor) and not isinstance(t, nn.Parameter) for t in (a, b)) and a.shape == b.shape


def _merged_norm(func, args, kwargs, merged: set[int]) -> bool:
    return (func is F.batch_norm or func is torch.batch_norm) and id(args[3] if len(args) > 3 else kwargs.get("weight")) in merged


class _Recorder(TorchFunctionMode):
    """The reference pass: keeps each nonlinearity's input, in call order; for reveal-cancel also
    each linear layer's input and both terms of each sum (BatchNorms merged by a canonizer skipped)."""

    def __init__(self, reveal_cancel: bool = False, merged: set[int] = frozenset()):
        super().__init__()
        self.reveal_cancel, self.merged = reveal_cancel, merged
        self.inputs: list = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if _merged_norm(func, args, kwargs, self.merged):
            return args[0]
        if _nonlinear(func, args, kwargs) and isinstance(args[0], torch.Tensor):
            self.inputs.append(args[0].detach().clone())
        elif self.reveal_cancel and (func in LINEAR or func in CONVOLUTIONS):
            self.inputs.append(args[0].detach().clone())
        elif self.reveal_cancel and _is_sum(func, args, kwargs):
            self.inputs.append((args[0].detach().clone(), (args[1] if len(args) > 1 else kwargs["other"]).detach().clone()))
        return func(*args, **kwargs)


class _Rescale(torch.autograd.Function):
    """y = f(x) with the rescale multiplier (f(x) - f(x')) / (x - x') as its backward, computed there:
    a ReLU-family unit whose only reader is a max pool is never passed back through (see
    `_RescalePool`), so its multiplier is never computed."""

    @staticmethod
    def forward(ctx, inputs, reference, compute, clamp):
        ctx.compute, ctx.clamp = compute, clamp
        ctx.save_for_backward(inputs, reference)  # not the output: a max pool after it may be all that keeps it
        return compute(inputs)

    @staticmethod
    def backward(ctx, grad):
        inputs, reference = ctx.saved_tensors
        output = ctx.compute(inputs)
        if ctx.clamp is not None:
            multiplier = _secant(output.sub_(ctx.compute(reference)), inputs, reference, ctx.clamp)
            return multiplier.mul_(grad), None, None, None
        with torch.enable_grad(), suspended():
            leaf = inputs.detach().requires_grad_(True)
            (plain,) = torch.autograd.grad(ctx.compute(leaf), leaf, grad)
        moved = (output - ctx.compute(reference)).mul_(grad)
        return _rescaled(moved, inputs - reference, plain), None, None, None


class _RescalePool(torch.autograd.Function):
    """Max pooling: each output's difference goes to the winners in the input and in the reference
    (Captum's cross-maximum rule), divided by the input difference there; the plain gradient where
    that difference is ~0. `pool(x)` gives (output, flat indices of the winners within each channel).
    Of the two winners only the one whose maximum is the larger gets a nonzero share (the other's
    share is max(y, y') - max(y, y') = 0), so each output sends its whole difference to one place:
    computed per pooled output, then added in one scatter.

    With `clamp`, the pool reads `activations` = (clamp(inputs), clamp(reference)) of a ReLU-family
    unit and passes back through both at once, to the unit's inputs: the two steps' multipliers
    dy / da and da / dx make dy / dx, needed only where the pool routes (a quarter of the places for
    a 2 x 2 pool). Where x == x' there (so y == y') it is the unit's slope times the pool's plain
    gradient, as in two steps. Two steps would differ only where 0 < |da| < EPS: by less than EPS
    times the gradient, in a contribution; the one step conserves exactly there too."""

    @staticmethod
    def forward(ctx, inputs, reference, pool, clamp=None, activations=None):
        pooled, pooled_reference = (inputs, reference) if clamp is None else activations
        output, winners = pool(pooled)
        reference_output, reference_winners = pool(pooled_reference)
        ctx.clamp = clamp
        ctx.save_for_backward(inputs, reference, output, reference_output, winners, reference_winners)
        return output

    @staticmethod
    def backward(ctx, grad):
        inputs, reference, output, reference_output, winners, reference_winners = ctx.saved_tensors
        n = len(grad)
        output, reference_output, grad = output.flatten(2), reference_output.flatten(2), grad.flatten(2)
        wins = torch.ge(output, reference_output)
        where = torch.where(wins, winners.flatten(2), reference_winners.flatten(2).expand(n, -1, -1))
        at, reference_at = inputs.flatten(2).gather(2, where), reference.flatten(2).expand(n, -1, -1).gather(2, where)
        moved, plain = (output - reference_output).mul_(grad), grad * wins
        if ctx.clamp is None:
            shares = _rescaled(moved, at.sub_(reference_at), plain)
        else:
            shares = _secant(moved, at, reference_at, ctx.clamp, plain)
        routed = torch.zeros(inputs.shape[:2] + (inputs[0, 0].numel(),), dtype=grad.dtype, device=grad.device)
        return routed.scatter_add_(2, where, shares).view_as(inputs), None, None, None, None


def _secant(moved: torch.Tensor, inputs: torch.Tensor, reference: torch.Tensor, clamp: tuple[float, float],
            scale: torch.Tensor | None = None) -> torch.Tensor:
    """moved / (x - x') through a ReLU-family unit clamp(x, low, high), written into `moved`; where
    x == x' (moved is 0 there: 0/0) the unit's gradient at x' (times `scale`), by convention.
    With moved = f(x) - f(x') it is the rescale multiplier: on a linear piece exactly that piece's
    slope (0 or 1), across a kink the secant, between the two, however close x and x' are."""
    quotient = moved.div_(inputs - reference)
    if not bool(quotient.sum().isnan()):  # a NaN anywhere makes the sum NaN; a sum is ~10x faster than any()
        return quotient
    low, high = clamp
    # the gradient of clamp (1 strictly inside, as aten's backward), on the reference: one copy when shared
    slope = flag(torch.gt, reference, low)
    if high != float("inf"):
        slope.mul_(flag(torch.lt, reference, high))
    undefined = flag(torch.ne, quotient, quotient)  # NaN, only where x == x'
    return quotient.nan_to_num_(0.0).addcmul_(undefined, slope if scale is None else slope * scale)


def _rescaled(moved: torch.Tensor, delta_in: torch.Tensor, plain: torch.Tensor) -> torch.Tensor:
    """moved / delta_in, and the plain gradient where the input hardly differs from its reference
    (the quotient computed there, maybe inf or NaN, is zeroed first and then discarded). Overwrites
    `moved` and `delta_in`, which the callers make for it."""
    quotient = moved.div_(delta_in).nan_to_num_(0.0, 0.0, 0.0)
    return quotient.lerp_(plain, torch.lt(delta_in.abs_(), EPS, out=delta_in))


def _convolution(func, args, kwargs):
    """A convolution whose input gradient (its multiplier, as for every linear op) is faster by
    `conv_input_gradient` (few input channels, as an image model's first layer), else torch's own."""
    inputs, weight = args[0], args[1] if len(args) > 1 else kwargs.get("weight")
    groups = args[6] if len(args) > 6 else kwargs.get("groups", 1)
    padding = args[4] if len(args) > 4 else kwargs.get("padding", 0)
    if not (isinstance(inputs, torch.Tensor) and inputs.requires_grad and has_few_taps(weight, groups)) or isinstance(padding, str):
        return func(*args, **kwargs)
    bias = args[2] if len(args) > 2 else kwargs.get("bias")
    return FewTapConv.apply(inputs, weight, bias, _conv_options(args, kwargs, weight))


class _Replay(TorchFunctionMode):
    """The pass on the inputs: every nonlinearity takes its recorded reference input, in order; with
    reveal-cancel, a nonlinearity right after a linear layer or a sum takes that op's inputs too."""

    def __init__(self, references: list, reveal_cancel: bool = False, merged: set[int] = frozenset()):
        super().__init__()
        self.references, self.calls = references, 0
        self.reveal_cancel, self.merged = reveal_cancel, merged
        self.sources: dict[int, tuple] = {}  # id(output of a linear layer or sum) -> how it was made
        self.units: dict[int, tuple] = {}  # id(output of a ReLU-family unit) -> (output, its input, reference, clamp)

    def _next(self, what: str):
        if self.calls >= len(self.references):
            raise InputError(f"the model ran more {what} on the inputs than on the reference: DeepLIFT needs the "
                             "same forward path for both (data-dependent control flow is not supported)")
        self.calls += 1
        return self.references[self.calls - 1]

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if not torch.is_grad_enabled() or _SUSPENDED[0]:
            return func(*args, **kwargs)
        if _merged_norm(func, args, kwargs, self.merged):
            return args[0]
        if self.reveal_cancel and (func in LINEAR or func in CONVOLUTIONS):
            return self._linear(func, args, kwargs)
        if self.reveal_cancel and _is_sum(func, args, kwargs):
            return self._sum(func, args, kwargs)
        if func in CONVOLUTIONS:
            return _convolution(func, args, kwargs)
        if not _nonlinear(func, args, kwargs) or not isinstance(args[0], torch.Tensor):
            return func(*args, **kwargs)
        reference = self._next("nonlinearities")
        inputs = args[0]
        if reference.shape[1:] != inputs.shape[1:] or len(reference) not in (1, len(inputs)):
            raise InputError(f"a nonlinearity saw shape {tuple(inputs.shape)} on the inputs but {tuple(reference.shape)} "
                             "on the reference: give a baseline shaped like the inputs")
        if func in MAX_POOLS:
            return self._pool(func, args, kwargs, reference)
        compute = _plain(func, args, kwargs)
        found = _bounds(func, args, kwargs)
        clamp = None if found is None else (found[1], found[2])
        in_place = found is not None and found[3]
        output = self._revealed(inputs, compute, clamp)
        if output is not None:
            return inputs.copy_(output) if in_place else output
        unit_input = inputs.clone() if in_place else inputs  # in place: the saved input must be a copy
        output = _Rescale.apply(unit_input, reference, compute, clamp)
        result = inputs.copy_(output) if in_place else output
        if clamp is not None:
            self.units[id(result)] = (result, unit_input, reference, clamp)
        return result

    def _pool(self, func, args, kwargs, reference):
        """Max pooling; right after a ReLU-family unit, both are passed back in one step (`_RescalePool`)."""
        pool = _WITH_INDICES[func]
        def pooled(x):
            return pool(x, *args[1:], **{**kwargs, "return_indices": True})
        inputs = args[0]
        unit = self.units.get(id(inputs))
        if unit is None or unit[0] is not inputs:
            return _RescalePool.apply(inputs, reference, pooled)
        _, unit_input, unit_reference, clamp = unit
        return _RescalePool.apply(unit_input, unit_reference, pooled, clamp, (inputs.detach(), reference))

    def _linear(self, func, args, kwargs):
        reference = self._next("layers")
        output = func(*args, **kwargs)
        weight = args[1] if len(args) > 1 else kwargs["weight"]
        bias = args[2] if len(args) > 2 else kwargs.get("bias")
        kind = "linear" if func in LINEAR else "conv"
        op = LinearOp(kind, weight, bias, _conv_options(args, kwargs, weight) if kind == "conv" else {})
        self.sources[id(output)] = ("linear", output, args[0], reference, op)
        return output

    def _sum(self, func, args, kwargs):
        reference_a, reference_b = self._next("sums")
        output = func(*args, **kwargs)
        sign = -kwargs.get("alpha", 1) if func in SUBTRACTIONS else kwargs.get("alpha", 1)
        other = args[1] if len(args) > 1 else kwargs["other"]
        self.sources[id(output)] = ("sum", output, args[0], other, reference_a, reference_b, float(sign))
        return output

    def _revealed(self, inputs, compute, clamp):
        """The reveal-cancel output of the nonlinearity if its input came from a linear layer or a sum, else None."""
        source = self.sources.get(id(inputs)) if self.reveal_cancel else None
        if source is None or source[1] is not inputs:
            return None
        if source[0] == "linear":
            _, _, layer_input, reference, op = source
            return RevealCancelLinear.apply(layer_input, reference, op, compute, clamp)
        _, _, a, b, reference_a, reference_b, sign = source
        return RevealCancelSum.apply(a, b, reference_a, reference_b, sign, compute, clamp)


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
        return torch.zeros_like(inputs[:1]).expand_as(inputs)
    tensor = torch.as_tensor(baselines, dtype=inputs.dtype, device=inputs.device)
    if tensor.shape == inputs.shape[1:]:
        tensor = tensor.unsqueeze(0)
    if tensor.shape[1:] != inputs.shape[1:] or len(tensor) not in (1, len(inputs)):
        raise InputError(f"the baseline has shape {tuple(tensor.shape)}; give one input's shape {tuple(inputs.shape[1:])}, "
                         f"or one baseline per input {tuple(inputs.shape)}")
    return tensor.expand_as(inputs)


@register
class DeepLift(AttributionExplainer):
    """DeepLIFT (Shrikumar et al. 2017): contributions (x - x') * m that add up to f(x) - f(x')
    exactly; `delta` reports the sum's gap (zero up to rounding). `baselines`: "zeros", one
    input-shaped tensor, or one per input; `rule`: "rescale" or "reveal_cancel" (see
    `reveal_cancel`: positive and negative terms that cancel at a nonlinearity keep their shares).
    The result carries the `multipliers`.

    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    >>> result = DeepLift(net).explain(torch.rand(2, 3), target=1)
    >>> bool(abs(result.delta).max() < 1e-5), result.multipliers.shape
    (True, (2, 3))
    """

    info = MethodInfo(
        "deeplift", Engagement.PASSIVE, Format.ATTRIBUTION, Scope.LOCAL, Access.GRADIENTS,
        "differences from a reference, passed back by multipliers that add up exactly", "Shrikumar et al. 2017",
    )

    def __init__(self, model, baselines: Any = "zeros", rule: str = "rescale"):
        super().__init__(model)
        self.baselines, self.rule = baselines, check_choice(rule, "rule", RULES)

    def explain(self, inputs: Any, target: Any = None, feature_names: list[str] | None = None) -> DeepLiftAttribution:
        result = super().explain(inputs, target=target, feature_names=feature_names)
        fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
        return DeepLiftAttribution(**fields, multipliers=self._multipliers, baselines=self._references)

    def attribute(self, inputs: torch.Tensor, target: Target):
        references = _baselines(self.baselines, inputs)
        values, multipliers, scores, base = contributions(self.model, inputs, references, target, self.rule)
        self._multipliers, self._references = multipliers.cpu().numpy(), references.detach().cpu().numpy()
        delta = values.flatten(1).sum(1) - (scores - base)
        return values, {"scores": scores, "delta": delta, "base": base}


def contributions(model, inputs: torch.Tensor, references: torch.Tensor, target: Target, rule: str = "rescale"):
    """(contributions, multipliers, scores f(x), reference scores f(x')) for every input and its
    reference, in chunks under the memory budget: a reference pass, then a replayed gradient pass.
    Reveal-cancel merges BatchNorm into the layer before it (restored after), so that the layer
    whose terms are split is the one the nonlinearity follows."""
    size = model.chunk_size(inputs, with_grad=True)
    reveal = check_choice(rule, "rule", RULES) == "reveal_cancel"
    # one baseline for every input (expanded): its pass runs once, on one copy, and broadcasts
    shared = len(references) > 1 and references.stride(0) == 0
    parts = []
    with model.preserved():
        canonizer = merged_batch_norm(model.module, inputs[:1]) if reveal else nullcontext([])
        with canonizer as pairs:
            merged = {id(pair.norm.weight) for pair in pairs}
            for start in range(0, len(inputs), size):
                chunk = inputs[start : start + size]
                reference = references[start : start + (1 if shared else size)].contiguous()
                part_target = target.take(slice(start, start + size))
                recorder = _Recorder(reveal, merged)
                with torch.no_grad(), recorder:
                    outputs = model._call(reference)
                    base = part_target.select(outputs.expand(len(chunk), *outputs.shape[1:]))
                with _Replay(recorder.inputs, reveal, merged):
                    multipliers, scores, _ = model.gradients(chunk, part_target)
                parts.append(((chunk - reference).mul_(multipliers), multipliers, scores, base))
    return parts[0] if len(parts) == 1 else tuple(torch.cat([p[i] for p in parts]) for i in range(4))


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

    def __init__(self, model, background: Any, rule: str = "rescale"):
        super().__init__(model)
        self.background, self.rule = background, check_choice(rule, "rule", RULES)

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
        values, _, scores, base = contributions(self.model, repeated, references, expanded, self.rule)
        values = values.view(len(inputs), k, *inputs.shape[1:]).mean(1)
        scores, base = scores.view(len(inputs), k)[:, 0], base.view(len(inputs), k).mean(1)
        delta = values.flatten(1).sum(1) - (scores - base)
        return values, {"scores": scores, "delta": delta, "base": base}
