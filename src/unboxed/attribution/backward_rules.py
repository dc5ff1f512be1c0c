"""Modified backward passes through piecewise-linear activations, wherever they are called.

A `TorchFunctionMode`, active only while an explanation runs, sees every call of `F.relu`,
`torch.relu`, `Tensor.relu`, their in-place forms, `nn.ReLU` (shared or in-place), `F.relu6`
and `F.hardtanh` (which `nn.ReLU6` calls), and swaps each for an autograd Function whose forward
is unchanged and whose backward follows an `ActivationRule`. Functional calls, reused modules and
in-place activations therefore need no special case, unlike hooks on a list of module types.
Guided Backprop and DeconvNet are rules here; LRP and DeepLIFT rules use the same mechanism.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode


class ActivationRule:
    """How gradient flows back through y = clamp(x, low, high). Subclasses override `backward`."""

    name = "gradient"

    def backward(self, grad_output: torch.Tensor, inputs: torch.Tensor, low: float, high: float) -> torch.Tensor:
        # aten's fused kernels: one pass over the tensor instead of a mask, a product and a copy
        if math.isinf(high):
            return torch.ops.aten.threshold_backward(grad_output, inputs, low)
        return torch.ops.aten.hardtanh_backward(grad_output, inputs, low, high)


class GuidedRule(ActivationRule):
    """Guided Backprop (Springenberg et al.): the ordinary gradient, with negative signals zeroed."""

    name = "guided"

    def backward(self, grad_output, inputs, low, high):
        return super().backward(grad_output, inputs, low, high).clamp_(min=0)


class DeconvRule(ActivationRule):
    """DeconvNet (Zeiler & Fergus): pass the positive part of the signal, ignoring the forward mask."""

    name = "deconvnet"

    def backward(self, grad_output, inputs, low, high):
        return grad_output.clamp(min=0)


class _RuledClamp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, inputs, low, high, rule):
        ctx.low, ctx.high, ctx.rule = low, high, rule
        ctx.save_for_backward(inputs)
        return inputs.clamp(min=low, max=None if math.isinf(high) else high)

    @staticmethod
    def backward(ctx, grad_output):
        (inputs,) = ctx.saved_tensors
        return ctx.rule.backward(grad_output, inputs, ctx.low, ctx.high), None, None, None


def _argument(args, kwargs, position, name, default):
    return args[position] if len(args) > position else kwargs.get(name, default)


def _bounds(func, args, kwargs) -> tuple[torch.Tensor, float, float, bool] | None:
    """(input, low, high, in_place) when `func` is a ReLU-family activation, else None."""
    if func in (F.relu, torch.relu, torch.Tensor.relu):
        return args[0], 0.0, math.inf, bool(_argument(args, kwargs, 1, "inplace", False)) if func is F.relu else False
    if func in (torch.relu_, torch.Tensor.relu_, F.relu_):
        return args[0], 0.0, math.inf, True
    if func is F.relu6:
        return args[0], 0.0, 6.0, bool(_argument(args, kwargs, 1, "inplace", False))
    if func in (F.hardtanh, F.hardtanh_):
        low = float(_argument(args, kwargs, 1, "min_val", -1.0))
        high = float(_argument(args, kwargs, 2, "max_val", 1.0))
        inplace = func is F.hardtanh_ or bool(_argument(args, kwargs, 3, "inplace", False))
        return args[0], low, high, inplace
    return None


class ActivationRuleMode(TorchFunctionMode):
    """Within `with ActivationRuleMode(rule):`, ReLU-family activations back-propagate by `rule`."""

    def __init__(self, rule: ActivationRule):
        super().__init__()
        self.rule = rule

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        found = _bounds(func, args, kwargs)
        if found is None or not isinstance(found[0], torch.Tensor) or not torch.is_grad_enabled():
            return func(*args, **kwargs)
        inputs, low, high, inplace = found
        if not inplace:
            return _RuledClamp.apply(inputs, low, high, self.rule)
        # In place: the result must land in the caller's tensor, and the saved input must be a copy.
        output = _RuledClamp.apply(inputs.clone(), low, high, self.rule)
        return inputs.copy_(output)
