"""DeepLIFT's reveal-cancel rule (Shrikumar et al. 2017, section 3.5.3).

The difference of a nonlinearity's input from its reference, dz, is split by where it comes from:
dz+ adds up the positive terms w_j * da_j of the layer that computed z, dz- the negative ones. The
output difference is split to match, averaging over the order in which the two parts arrive:

    dy+ = 1/2 (f(z0 + dz+) - f(z0)) + 1/2 (f(z0 + dz- + dz+) - f(z0 + dz-))
    dy- = 1/2 (f(z0 + dz-) - f(z0)) + 1/2 (f(z0 + dz+ + dz-) - f(z0 + dz+))

and the positive and negative terms get their own multipliers m+ = dy+/dz+, m- = dy-/dz-. Unlike
the rescale rule, a positive and a negative contribution that cancel at a ReLU both keep their share
(the rule "reveals" them). dy+ + dy- = f(z) - f(z0), so contributions still add up exactly.

The rule needs the layer before the nonlinearity, so it is applied to the pair: a linear layer
(conv, linear, after BatchNorm is merged into it) or a sum of two activations (a residual
connection) followed by an element-wise nonlinearity. Anything else keeps the rescale rule.
"""
from __future__ import annotations

from typing import Callable

import torch

from ..choosing import choose, flag
from .backward_rules import ActivationRule
from .relevance_mode import suspended
from .relevance_rules import LinearOp

EPS = 1e-10
_GRADIENT = ActivationRule()


def split_multipliers(compute: Callable, clamp, z: torch.Tensor, z0: torch.Tensor, positive: torch.Tensor,
                      negative: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(m+, m-) of y = compute(z) for the parts `positive` + `negative` = z - z0 (the gradient where a
    part is ~0: its contribution is then ~0 whatever the multiplier)."""
    f0, fz = compute(z0), compute(z)
    up, down = compute(z0 + positive), compute(z0 + negative)
    rise = 0.5 * (up - f0) + 0.5 * (fz - down)
    fall = 0.5 * (down - f0) + 0.5 * (fz - up)
    slope = _slope(compute, clamp, z)
    m_pos = choose(flag(torch.lt, positive.abs(), EPS), slope, (rise / positive).nan_to_num_(0.0, 0.0, 0.0))
    m_neg = choose(flag(torch.lt, negative.abs(), EPS), slope, (fall / negative).nan_to_num_(0.0, 0.0, 0.0))
    return m_pos, m_neg


def _slope(compute: Callable, clamp, z: torch.Tensor) -> torch.Tensor:
    if clamp is not None:
        return _GRADIENT.backward(torch.ones_like(z), z, *clamp)
    with torch.enable_grad(), suspended():
        leaf = z.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(compute(leaf).sum(), leaf)
    return grad


class RevealCancelLinear(torch.autograd.Function):
    """y = f(W a + b), with reveal-cancel multipliers for `a` (its reference `a0`)."""

    @staticmethod
    def forward(ctx, inputs, reference, op: LinearOp, compute, clamp):
        z = op.forward(inputs, op.weight, op.bias)
        ctx.op, ctx.compute, ctx.clamp = op, compute, clamp
        ctx.save_for_backward(inputs, reference, z)
        return compute(z)

    @staticmethod
    def backward(ctx, grad):
        inputs, reference, z = ctx.saved_tensors
        op = ctx.op
        delta = inputs - reference
        up, down = delta.clamp(min=0), delta.clamp(max=0)
        w_pos, w_neg = op.weight.clamp(min=0), op.weight.clamp(max=0)
        positive = op.forward(up, w_pos, None) + op.forward(down, w_neg, None)
        negative = op.forward(up, w_neg, None) + op.forward(down, w_pos, None)
        z0 = op.forward(reference, op.weight, op.bias)
        m_pos, m_neg = split_multipliers(ctx.compute, ctx.clamp, z, z0, positive, negative)
        g_pos, g_neg = grad * m_pos, grad * m_neg
        rising = op.backward(g_pos, w_pos, inputs) + op.backward(g_neg, w_neg, inputs)  # terms w * da > 0 when da > 0
        falling = op.backward(g_neg, w_pos, inputs) + op.backward(g_pos, w_neg, inputs)
        return choose(flag(torch.ge, delta, 0.0), rising, falling), None, None, None, None


class RevealCancelSum(torch.autograd.Function):
    """y = f(a + sign * b) of two activations (a residual connection), with reveal-cancel multipliers."""

    @staticmethod
    def forward(ctx, a, b, reference_a, reference_b, sign, compute, clamp):
        z = a + sign * b
        ctx.sign, ctx.compute, ctx.clamp = sign, compute, clamp
        ctx.save_for_backward(a, b, reference_a, reference_b, z)
        return compute(z)

    @staticmethod
    def backward(ctx, grad):
        a, b, reference_a, reference_b, z = ctx.saved_tensors
        delta_a, delta_b = a - reference_a, ctx.sign * (b - reference_b)
        positive = delta_a.clamp(min=0) + delta_b.clamp(min=0)
        negative = delta_a.clamp(max=0) + delta_b.clamp(max=0)
        m_pos, m_neg = split_multipliers(ctx.compute, ctx.clamp, z, reference_a + ctx.sign * reference_b, positive, negative)
        g_pos, g_neg = grad * m_pos, grad * m_neg
        return (choose(flag(torch.ge, delta_a, 0.0), g_pos, g_neg), ctx.sign * choose(flag(torch.ge, delta_b, 0.0), g_pos, g_neg),
                None, None, None, None, None)
