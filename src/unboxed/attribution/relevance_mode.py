"""Relevance propagation through any forward pass: every op is seen where it is called.

`RelevanceMode` is a `TorchFunctionMode` (like `backward_rules.ActivationRuleMode`): while it is
active, each call of a linear layer (F.linear, F.conv1d/2d/3d, however the model calls them) runs
as usual forward and sends relevance backward by the LRP rule its composite assigns; the other ops
are put in the few classes LRP needs:

- activations (ReLU family, sigmoid, tanh, GELU, SiLU, ...), dropout, element-wise scaling or
  shifting by a constant (input normalisation), reshapes: relevance passes unchanged;
- average pooling and means (`F.avg_pool*`, `F.adaptive_avg_pool*`, `torch.mean`), BatchNorm not
  merged by a canonizer: linear maps without their own rule, by the epsilon rule;
- the sum of two activations (residual connections): relevance split in proportion to each summand;
- max pooling: to the maximum (the ordinary gradient);
- anything else that reads a parameter of the model: an error that names the layer, never a
  silently wrong map.

Relevance is linear in the relevance that enters, so the explainer seeds the output with 1 and
multiplies by the score afterwards.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from ..choosing import choose, flag
from ..errors import InputError
from .backward_rules import ActivationRule, _bounds, _RuledClamp
from .relevance_rules import LinearOp, Rule, ratio

LINEAR = {F.linear, torch._C._nn.linear}
CONVOLUTIONS = {F.conv1d, F.conv2d, F.conv3d, torch.conv1d, torch.conv2d, torch.conv3d}
POOLS = {F.avg_pool1d, F.avg_pool2d, F.avg_pool3d, F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d,
         torch.mean, torch.Tensor.mean, torch.avg_pool1d, torch._C._nn.avg_pool2d, torch._C._nn.adaptive_avg_pool2d}
TRANSPOSES = {F.adaptive_avg_pool2d: torch.ops.aten._adaptive_avg_pool2d_backward,
              torch._C._nn.adaptive_avg_pool2d: torch.ops.aten._adaptive_avg_pool2d_backward,
              F.adaptive_avg_pool3d: torch.ops.aten._adaptive_avg_pool3d_backward}
UNARY_ACTIVATIONS = {torch.sigmoid, torch.Tensor.sigmoid, torch.tanh, torch.Tensor.tanh, F.gelu, F.silu, F.elu, F.selu,
                     F.leaky_relu, F.softplus, F.mish, F.hardswish, F.hardsigmoid, torch._C._nn.gelu, torch._C._nn.silu}
SCALINGS = {torch.mul, torch.Tensor.mul, torch.Tensor.__mul__, torch.Tensor.__rmul__, torch.div, torch.Tensor.div,
            torch.Tensor.__truediv__}
ADDITIONS = {torch.add, torch.Tensor.add, torch.Tensor.__add__, torch.Tensor.__radd__}
SUBTRACTIONS = {torch.sub, torch.Tensor.sub, torch.Tensor.__sub__}
# reading a parameter's attributes, copying or moving it computes nothing relevance must follow
HARMLESS = {"__get__", "size", "dim", "numel", "to", "detach", "clone", "contiguous", "type", "is_floating_point",
            "__len__", "__getitem__", "__format__", "__repr__", "data_ptr", "element_size", "stride", "is_contiguous"}
NORM_EPS = 1e-6  # default stabiliser of the rules this module applies itself (pools, BatchNorm, sums)


class _PassRule(ActivationRule):
    """Relevance passes a ReLU-family activation unchanged (also where it saturates, as ReLU6 does at 6)."""

    name = "pass"

    def backward(self, grad_output, inputs, low, high):
        return grad_output


PASS = _PassRule()


class _Ruled(torch.autograd.Function):
    """A linear layer: ordinary forward, relevance backward by `rule`."""

    @staticmethod
    def forward(ctx, inputs, weight, bias, op, rule):
        z = op.forward(inputs, weight, bias)
        ctx.op, ctx.rule = op, rule
        ctx.save_for_backward(inputs, z)
        return z

    @staticmethod
    def backward(ctx, relevance):
        inputs, z = ctx.saved_tensors
        return ctx.rule.relevance(ctx.op, inputs, z, relevance), None, None, None, None


class _Pass(torch.autograd.Function):
    """Relevance passes unchanged through an element-wise op (its output keeps the input's shape)."""

    @staticmethod
    def forward(ctx, inputs, compute):
        return compute(inputs)

    @staticmethod
    def backward(ctx, relevance):
        return relevance, None


class _Ratio(torch.autograd.Function):
    """A linear map without parameters of its own (pooling, a mean, an affine BatchNorm):
    R_in = x * J^T (R / z), the epsilon rule. J^T is `transpose(v, x)` where torch has it as an op
    (adaptive average pools: a third of the time of a nested backward pass), else autograd's."""

    @staticmethod
    def forward(ctx, inputs, compute, eps, transpose=None):
        ctx.compute, ctx.eps, ctx.transpose = compute, eps, transpose
        output = compute(inputs)
        ctx.save_for_backward(inputs, output)
        return output

    @staticmethod
    def backward(ctx, relevance):
        inputs, output = ctx.saved_tensors
        share = ratio(relevance, output, ctx.eps)
        if ctx.transpose is not None:
            return ctx.transpose(share, inputs).mul_(inputs), None, None, None
        with torch.enable_grad(), suspended():
            leaf = inputs.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(ctx.compute(leaf), leaf, share)
        return grad.mul_(inputs), None, None, None


class _Split(torch.autograd.Function):
    """a + sign * b of two activations (a residual connection): relevance in proportion to each summand
    (or, with `positive`, to the summands that have the output's sign, so that no share is negative)."""

    @staticmethod
    def forward(ctx, a, b, sign, eps, positive):
        output = a + sign * b
        ctx.sign, ctx.eps, ctx.positive = sign, eps, positive
        ctx.save_for_backward(a, b, output)
        return output

    @staticmethod
    def backward(ctx, relevance):
        a, b, output = ctx.saved_tensors
        if ctx.positive:  # shares of the summands that have the output's sign: no share is negative
            b = ctx.sign * b
            up = flag(torch.ge, output, 0.0)
            first, second = choose(up, a.clamp(min=0), a.clamp(max=0)), choose(up, b.clamp(min=0), b.clamp(max=0))
            share = ratio(relevance, first + second, ctx.eps)
            return first * share, ctx.sign * second * share, None, None, None
        share = ratio(relevance, output, ctx.eps)
        return a * share, ctx.sign * b * share, None, None, None


_SUSPENDED = [0]  # > 0 while a rule computes in its backward: its own ops are not relevance ops


@contextmanager
def suspended() -> Iterator[None]:
    """Ops inside run as plain torch, even where a `RelevanceMode` is active (and grad is on)."""
    _SUSPENDED[0] += 1
    try:
        yield
    finally:
        _SUSPENDED[0] -= 1


def _argument(args, kwargs, position, name, default):
    return args[position] if len(args) > position else kwargs.get(name, default)


def _conv_options(args, kwargs, weight: torch.Tensor) -> dict[str, Any]:
    dims = weight.ndim - 2
    def expand(value):
        return [int(v) for v in value] if isinstance(value, (tuple, list)) else [int(value)] * dims
    stride, dilation = expand(_argument(args, kwargs, 3, "stride", 1)), expand(_argument(args, kwargs, 5, "dilation", 1))
    padding = _argument(args, kwargs, 4, "padding", 0)
    if padding == "valid":
        padding = 0
    elif padding == "same":
        total = [d * (k - 1) for d, k in zip(dilation, weight.shape[2:])]
        if any(t % 2 for t in total):
            raise InputError("LRP cannot take padding='same' with an even kernel (uneven padding); pad explicitly with F.pad")
        padding = [t // 2 for t in total]
    return {"stride": stride, "padding": expand(padding), "dilation": dilation,
            "groups": int(_argument(args, kwargs, 6, "groups", 1))}


def _carries(value: Any) -> bool:
    """A tensor that carries relevance: computed from the inputs (needs grad), not a parameter."""
    return isinstance(value, torch.Tensor) and value.requires_grad and not isinstance(value, torch.nn.Parameter)


class RelevanceMode(TorchFunctionMode):
    """Within `with RelevanceMode(choose, owners):`, backward passes carry LRP relevance.

    `choose(kind, layer_name, position)` gives the rule of each linear layer call (`kind` "linear"
    or "conv", `position` its order in the forward pass, 0 = the first, nearest the input);
    `owners` maps id(parameter) -> layer name, to name layers in rules and errors; `eps` is the
    stabiliser of the rules applied here (pools, means, unmerged BatchNorm, sums); `merged` holds
    id(weight) of the BatchNorms a canonizer folded into their layer: they are skipped; `named` the
    layers the user gave a rule: one that is not a linear layer takes the epsilon rule as a whole;
    `sums`: "proportional" (to each summand, as Zennit's Norm rule) or "positive" (to the summands of
    the output's sign: no share is negative, so z+ rules conserve through residual blocks too).
    """

    def __init__(self, choose: Callable[[str, str, int], Rule], owners: dict[int, str], eps: float = NORM_EPS,
                 merged: set[int] = frozenset(), named: set[str] = frozenset(), sums: str = "proportional"):
        super().__init__()
        self.choose, self.owners, self.eps, self.merged, self.named = choose, owners, float(eps), merged, named
        self.positive_sums = sums == "positive"
        self.position = 0
        self.nonnegatives: dict[int, tuple[torch.Tensor, int]] = {}  # id -> (ReLU-family output, its version)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if not torch.is_grad_enabled() or _SUSPENDED[0]:
            return func(*args, **kwargs)
        if func in LINEAR or func in CONVOLUTIONS:
            return self._linear(func, args, kwargs)
        if func is F.batch_norm or func is torch.batch_norm:
            weight = _argument(args, kwargs, 3, "weight", None)
            if id(weight) in self.merged:  # folded into the layer before it: the identity now
                return args[0]
            return self._ratio(func, args, kwargs)
        if func in POOLS:
            return self._ratio(func, args, kwargs)
        activation = _bounds(func, args, kwargs)
        if activation is not None or func in UNARY_ACTIVATIONS or func is F.dropout:
            return self._pass(func, args, kwargs)
        if func in ADDITIONS or func in SUBTRACTIONS:
            return self._sum(func, args, kwargs)
        if func in SCALINGS:
            return self._scaling(func, args, kwargs)
        return self._other(func, args, kwargs)

    def _linear(self, func, args, kwargs):
        inputs = args[0]
        weight = _argument(args, kwargs, 1, "weight", None)
        bias = _argument(args, kwargs, 2, "bias", None)
        kind = "linear" if func in LINEAR else "conv"
        options = _conv_options(args, kwargs, weight) if kind == "conv" else {}
        name = self.owners.get(id(weight), "(a weight not owned by the model)")
        rule = self.choose(kind, name, self.position)
        self.position += 1
        op = LinearOp(kind, weight, bias, options, self._nonnegative(inputs))
        return _Ruled.apply(inputs, weight, bias, op, rule)

    def _ratio(self, func, args, kwargs):
        if not _carries(args[0]):
            return func(*args, **kwargs)
        return _Ratio.apply(args[0], lambda x: func(x, *args[1:], **kwargs), self.eps, TRANSPOSES.get(func))

    def _pass(self, func, args, kwargs):
        activation = _bounds(func, args, kwargs)
        inputs = args[0]
        if not _carries(inputs):
            return func(*args, **kwargs)
        if activation is None:
            return _Pass.apply(inputs, lambda x: func(x, *args[1:], **kwargs))
        _, low, high, inplace = activation
        if not inplace:
            output = _RuledClamp.apply(inputs, low, high, PASS)
        else:
            output = inputs.copy_(_RuledClamp.apply(inputs.clone(), low, high, PASS))
        if low >= 0:
            self.nonnegatives[id(output)] = (output, output._version)
        return output

    def _nonnegative(self, inputs: torch.Tensor) -> bool:
        """Whether `inputs` is a ReLU-family output >= 0, unchanged since (its version counter)."""
        known = self.nonnegatives.get(id(inputs))
        return known is not None and known[0] is inputs and known[1] == inputs._version

    def _sum(self, func, args, kwargs):
        a, b = args[0], _argument(args, kwargs, 1, "other", None)
        alpha = kwargs.get("alpha", 1)
        sign = -alpha if func in SUBTRACTIONS else alpha
        if _carries(a) and _carries(b) and a.shape == b.shape:
            return _Split.apply(a, b, float(sign), self.eps, self.positive_sums)
        return func(*args, **kwargs)  # a constant or a bias: the gradient passes relevance unchanged

    def _scaling(self, func, args, kwargs):
        a, b = args[0], _argument(args, kwargs, 1, "other", None)
        if _carries(a) and _carries(b):
            raise InputError(f"LRP has no rule for the product of two activations ({_name(func)}), as in gates or "
                             "attention; explain such a model with DeepLIFT or a model-agnostic method")
        carried = a if _carries(a) else b if _carries(b) else None
        if carried is None:
            return func(*args, **kwargs)
        return _Pass.apply(carried, lambda x: func(x, b, **kwargs) if carried is a else func(a, x, **kwargs))

    def _other(self, func, args, kwargs):
        """Ops without a rule of their own: fine unless they read a parameter of the model (a layer
        no rule covers), which is an error unless the user named a rule for that layer."""
        if getattr(func, "__name__", "") in HARMLESS:
            return func(*args, **kwargs)
        for value in list(args) + list(kwargs.values()):
            if isinstance(value, torch.nn.Parameter):
                layer = self.owners.get(id(value), "?")
                if layer in self.named:  # the user's rule: relevance through it as a linear map
                    return self._ratio(func, args, kwargs)
                raise InputError(
                    f"LRP has no rule for layer {layer!r}, which calls {_name(func)} with its parameters; if it is close "
                    f"to linear in its input, pass relevance through it with LRP(model, rules={{'{layer}': Epsilon()}}), "
                    "or explain this model with DeepLIFT or a model-agnostic method")
        return func(*args, **kwargs)


def _name(func) -> str:
    return getattr(func, "__qualname__", None) or getattr(func, "__name__", repr(func))


def parameter_owners(module: torch.nn.Module) -> dict[int, str]:
    """id(parameter) -> the name of the layer that owns it ('' for the model itself)."""
    return {id(p): name for name, sub in module.named_modules() for p in sub.parameters(recurse=False)}

