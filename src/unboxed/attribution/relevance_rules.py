"""LRP rules: how relevance R at the output of a linear layer (linear, conv) is passed to its input.

Every rule is a ratio rule (Bach et al. 2015; Montavon et al. 2019): the layer is evaluated with
modified inputs and weights (a "term"), the relevance is divided by the (stabilised) modified
output, sent back through the layer's transposed weights, and multiplied by the modified inputs:
R_in = sum_k a_k * input_k * W_k^T (R / z). The rules differ in their terms:

| rule | terms (input, weights) | conserves |
|---|---|---|
| `Epsilon(eps)` | (x, W); eps=0 is LRP-0 | up to the bias and eps |
| `Gamma(g)` | positive outputs: (x+, W+gW+), (x-, W+gW-); negative: (x+, W+gW-), (x-, W+gW+) | up to the bias |
| `ZPlus()` | (x+, W+), (x-, W-) | yes, without biases |
| `AlphaBeta(a, b)` | a * [(x+, W+), (x-, W-)] - b * [(x+, W-), (x-, W+)] | a - b = 1 |
| `WSquare()` | (1, W^2): the input is ignored | yes |
| `Flat()` | (1, 1): spread evenly over the receptive field | yes |
| `ZBox(low, high)` | (x, W) - (low, W+) - (high, W-): the input layer of bounded data | yes |

A stabiliser adds eps with the sign of the denominator (+eps at 0), as Zennit does. The biases
follow the terms: a term keeps the part of the bias that matches its weights (b+ with W+);
`bias=False` (epsilon, z+, alpha-beta) leaves biases out of the denominators, so that all the
relevance reaches the inputs (the rule then conserves exactly, up to eps).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F

from ..errors import InputError
from .conv_transpose import conv_input_gradient


def stabilise(z: torch.Tensor, eps: float) -> torch.Tensor:
    """z + eps * sign(z), with sign(0) = +1: a denominator that is never zero.

    >>> stabilise(torch.tensor([-2.0, 0.0, 3.0]), 0.5).tolist()
    [-2.5, 0.5, 3.5]
    """
    # copysign: two passes over z instead of four (only -0.0 differs, and it gets -eps); one new tensor
    return torch.copysign(torch.tensor(eps, dtype=z.dtype, device=z.device), z).add_(z)


def ratio(relevance: torch.Tensor, z: torch.Tensor, eps: float, nonnegative: bool = False) -> torch.Tensor:
    """relevance / stabilise(z, eps), written into one new tensor where the shapes allow (each new
    activation-sized tensor costs its page faults on a CPU, more than the arithmetic). With
    `nonnegative` (z >= 0, as sums of non-negative terms are, and the caller's to overwrite) the
    stabiliser is +eps and everything is written into z: no new tensor.

    >>> ratio(torch.tensor([1.0, 1.0]), torch.tensor([-3.5, 0.0]), 0.5).tolist()
    [-0.25, 2.0]
    >>> z = torch.tensor([1.5, 0.0])
    >>> ratio(torch.tensor([1.0, 1.0]), z, 0.5, nonnegative=True).tolist(), z.tolist()
    ([0.5, 2.0], [0.5, 2.0])
    """
    tracked = torch.is_grad_enabled() and (relevance.requires_grad or z.requires_grad)
    same = z.shape == relevance.shape  # (torch.broadcast_shapes costs more than the division)
    if nonnegative and same and not tracked:
        return torch.div(relevance, z.add_(eps), out=z)
    denominator = stabilise(z, eps)
    if tracked or not same:
        return relevance / denominator
    return torch.div(relevance, denominator, out=denominator)


@dataclass
class LinearOp:
    """One call of a linear layer (F.linear, F.conv1d/2d/3d): its input and settings, evaluated
    again with other inputs and weights (`forward`) and transposed (`backward`, the vector-Jacobian
    product with respect to the input)."""

    kind: str  # "linear" or "conv"
    weight: torch.Tensor
    bias: torch.Tensor | None
    options: dict[str, Any]  # conv: stride, padding, dilation, groups
    nonnegative_input: bool = False  # known >= 0 (a ReLU's output): the rules need not look

    def forward(self, inputs: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if self.kind == "linear":
            return F.linear(inputs, weight, bias)
        return torch.ops.aten.convolution(inputs, weight, bias, self.options["stride"], self.options["padding"],
                                          self.options["dilation"], False, [0] * (weight.ndim - 2), self.options["groups"])

    def backward(self, grad: torch.Tensor, weight: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """W^T grad, shaped like the input `like`."""
        if self.kind == "linear":
            return grad @ weight
        options = self.options
        return conv_input_gradient(grad, weight, like, options["stride"], options["padding"], options["dilation"],
                                   options["groups"])

    def backward_of_ones(self, grad: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """W^T grad for all-ones weights of this op's shape: every input gets the sum of the outputs
        it feeds, over all output channels, the same for every input channel. Ungrouped convolutions
        sum the channels first and send one channel back, by a plain convolution at stride 1 (CPU
        transposed convolutions with few channels run ~20x slower than that).

        >>> op = LinearOp("conv", torch.ones(4, 1, 3), None, {"stride": [1], "padding": [1], "dilation": [1], "groups": 1})
        >>> grad, like = torch.rand(2, 4, 5), torch.zeros(2, 1, 5)
        >>> bool(torch.allclose(op.backward_of_ones(grad, like), op.backward(grad, torch.ones(4, 1, 3), like)))
        True
        """
        if self.kind == "linear":
            return grad.sum(-1, keepdim=True).expand_as(like).contiguous()
        if self.options["groups"] != 1:
            return self.backward(grad, torch.ones_like(self.weight), like)
        kernel, options = self.weight.shape[2:], self.options
        summed, ones = grad.sum(1, keepdim=True), torch.ones((1, 1, *kernel), dtype=grad.dtype, device=grad.device)
        padding = [d * (k - 1) - p for d, k, p in zip(options["dilation"], kernel, options["padding"])]
        if all(s == 1 for s in options["stride"]) and min(padding) >= 0:
            box = (F.conv1d, F.conv2d, F.conv3d)[len(kernel) - 1](summed, ones, None, 1, padding, options["dilation"])
        else:
            box = self.backward(summed, ones, like[:, :1])
        return box.expand_as(like).contiguous()

    def broadcast(self, bias: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """A bias (out_features,) shaped to add to outputs like `like` (channels first for conv)."""
        return bias if self.kind == "linear" else bias.view(-1, *([1] * (like.ndim - 2)))

    def term(self, inputs: torch.Tensor, weight: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        """inputs * W^T grad: one term's share of the relevance (grad already divided by z)."""
        return self.backward(grad, weight, inputs).mul_(inputs)


def _signed_parts(x: torch.Tensor, nonnegative: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(x+, x-), with x- None when x has no negative entry (after a ReLU): its terms are all zero, so
    the rules skip them, which halves their work on ReLU networks."""
    if nonnegative or bool(x.min() >= 0):  # a reduction: cheaper than comparing every entry
        return x, None
    return x.clamp(min=0), x.clamp(max=0)


def _forward(op: "LinearOp", inputs: torch.Tensor | None, weight: torch.Tensor, bias: torch.Tensor | None):
    """The op on `inputs`, or (when they are the absent negative part) just its bias, or 0."""
    if inputs is not None:
        return op.forward(inputs, weight, bias)
    return 0.0


def _term(op: "LinearOp", inputs: torch.Tensor | None, weight: torch.Tensor, grad: torch.Tensor):
    return op.term(inputs, weight, grad) if inputs is not None else 0.0


def _positive(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.clamp(min=0)


def _negative(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.clamp(max=0)


class Rule:
    """Base of the LRP rules: `relevance(op, x, z, R)` -> relevance of the input (x's shape).
    `z` is the layer's ordinary output, kept from the forward pass."""

    name = "rule"

    def relevance(self, op: LinearOp, x: torch.Tensor, z: torch.Tensor, relevance: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v}" for k, v in vars(self).items())
        return f"{type(self).__name__}({settings})"


class Epsilon(Rule):
    """LRP-epsilon: R_in = x * W^T (R / (z + eps sign z)); `eps=0` is LRP-0 (gradient x input on a linear model).

    >>> op = LinearOp("linear", torch.tensor([[1.0, 2.0]]), None, {})
    >>> Epsilon(0.0).relevance(op, torch.tensor([[3.0, 1.0]]), torch.tensor([[5.0]]), torch.tensor([[5.0]])).tolist()
    [[3.0, 2.0]]
    """

    name = "epsilon"

    def __init__(self, eps: float = 1e-6, bias: bool = True):
        self.eps, self.bias = float(eps), bool(bias)

    def relevance(self, op, x, z, relevance):
        if not self.bias and op.bias is not None:
            z = op.forward(x, op.weight, None)
        return op.term(x, op.weight, ratio(relevance, z, self.eps))


class Gamma(Rule):
    """LRP-gamma: positive weights favoured by `gamma` (Montavon et al. 2019), for either sign of output."""

    name = "gamma"

    def __init__(self, gamma: float = 0.25, eps: float = 1e-6):
        self.gamma, self.eps = float(gamma), float(eps)

    def relevance(self, op, x, z, relevance):
        w, b, g = op.weight, op.bias, self.gamma
        up_w, down_w = w + g * w.clamp(min=0), w + g * w.clamp(max=0)
        up_b = None if b is None else b + g * b.clamp(min=0)
        down_b = None if b is None else b + g * b.clamp(max=0)
        xp, xn = _signed_parts(x, op.nonnegative_input)
        positive = op.forward(xp, up_w, up_b) + _forward(op, xn, down_w, None)
        negative = op.forward(xp, down_w, down_b) + _forward(op, xn, up_w, None)
        grad_p = (z > 0) * ratio(relevance, positive, self.eps)
        grad_n = (z < 0) * ratio(relevance, negative, self.eps)
        return (op.term(xp, up_w, grad_p) + _term(op, xn, down_w, grad_p)
                + op.term(xp, down_w, grad_n) + _term(op, xn, up_w, grad_n))


class AlphaBeta(Rule):
    """LRP-alpha-beta (Bach et al. 2015): alpha x the positive contributions minus beta x the negative ones."""

    name = "alpha_beta"

    def __init__(self, alpha: float = 2.0, beta: float = 1.0, eps: float = 1e-6, bias: bool = True):
        if alpha < 0 or beta < 0 or abs(alpha - beta - 1.0) > 1e-12:
            raise InputError(f"alpha-beta needs alpha, beta >= 0 and alpha - beta = 1 (it conserves then); got {alpha}, {beta}")
        self.alpha, self.beta, self.eps, self.bias = float(alpha), float(beta), float(eps), bool(bias)

    def relevance(self, op, x, z, relevance):
        wp, wn = op.weight.clamp(min=0), op.weight.clamp(max=0)
        bp, bn = (_positive(op.bias), _negative(op.bias)) if self.bias else (None, None)
        xp, xn = _signed_parts(x, op.nonnegative_input)
        grad_p = ratio(relevance, op.forward(xp, wp, bp) + _forward(op, xn, wn, None), self.eps, nonnegative=True)
        result = self.alpha * (op.term(xp, wp, grad_p) + _term(op, xn, wn, grad_p))
        if self.beta:
            grad_n = ratio(relevance, op.forward(xp, wn, bn) + _forward(op, xn, wp, None), self.eps)
            result = result - self.beta * (op.term(xp, wn, grad_n) + _term(op, xn, wp, grad_n))
        return result


class ZPlus(Rule):
    """LRP-z+ (deep Taylor): only the positive contributions, alpha=1 beta=0 for inputs of either sign."""

    name = "zplus"

    def __init__(self, eps: float = 1e-6, bias: bool = True):
        self.eps, self.bias = float(eps), bool(bias)

    def relevance(self, op, x, z, relevance):
        bias = _positive(op.bias) if self.bias else None
        if op.nonnegative_input or bool(x.min() >= 0):  # after a ReLU: the one term (x, W+)
            wp = op.weight.clamp(min=0)
            return op.term(x, wp, ratio(relevance, op.forward(x, wp, bias), self.eps, nonnegative=True))
        # Both signs: x+ W+ + x- W- = (x W + |x| |W|) / 2, and x W is the layer's own output less its
        # bias, so one convolution serves where the two terms took two (the same holds backward).
        # Computed in place on the one new output-sized tensor (EfficientNet's expansions: 77 MB each).
        x_abs, w_abs = x.abs(), op.weight.abs()
        positive = op.forward(x_abs, w_abs, None).add_(z).mul_(0.5)
        shift = (0.0 if bias is None else op.broadcast(bias, z)) - (0.0 if op.bias is None else op.broadcast(op.bias, z) / 2)
        if isinstance(shift, torch.Tensor):  # z's bias out, z+'s (b+) in
            positive.add_(shift)
        grad = ratio(relevance, positive, self.eps)
        return op.term(x, op.weight, grad).add_(op.term(x_abs, w_abs, grad)).mul_(0.5)


class WSquare(Rule):
    """LRP-w^2 (Montavon et al. 2017): relevance spread by the squared weights, whatever the input."""

    name = "wsquare"

    def __init__(self, eps: float = 1e-6):
        self.eps = float(eps)

    def relevance(self, op, x, z, relevance):
        ones = torch.ones_like(x[:1])  # every input gets the same denominator: computed for one, broadcast
        square = op.weight ** 2
        grad = ratio(relevance, op.forward(ones, square, None if op.bias is None else op.bias ** 2), self.eps)
        return op.backward(grad, square, x)


class Flat(Rule):
    """LRP-flat: relevance spread evenly over each output's receptive field."""

    name = "flat"

    def __init__(self, eps: float = 1e-6):
        self.eps = float(eps)

    def relevance(self, op, x, z, relevance):
        ones, flat = torch.ones_like(x[:1]), torch.ones_like(op.weight)  # the same denominator for every input
        denominator = op.forward(ones, flat, None)
        if op.options.get("groups", 1) == 1:  # every output channel has the same denominator: divide their sum once
            relevance, denominator = relevance.sum(1, keepdim=True), denominator[:, :1]
        return op.backward_of_ones(ratio(relevance, denominator, self.eps), x)


class ZBox(Rule):
    """LRP-z^B (Montavon et al. 2017) for the input layer of data bounded by `low` and `high`
    (numbers, or tensors broadcastable to one input, e.g. per channel (1, C, 1, 1))."""

    name = "zbox"

    def __init__(self, low: float | torch.Tensor, high: float | torch.Tensor, eps: float = 1e-6):
        self.low, self.high, self.eps = low, high, float(eps)

    def relevance(self, op, x, z, relevance):
        # the bounds are the same for every input: their terms are computed on one and broadcast
        low = torch.as_tensor(self.low, dtype=x.dtype, device=x.device).expand_as(x[:1])
        high = torch.as_tensor(self.high, dtype=x.dtype, device=x.device).expand_as(x[:1])
        wp, wn = op.weight.clamp(min=0), op.weight.clamp(max=0)
        grad = ratio(relevance, z - op.forward(low, wp, _positive(op.bias)) - op.forward(high, wn, _negative(op.bias)), self.eps)
        if op.kind == "conv" and op.options["groups"] != 1:
            return op.term(x, op.weight, grad) - op.term(low.expand_as(x), wp, grad) - op.term(high.expand_as(x), wn, grad)
        # x W^T g - low W+^T g - high W-^T g = (x - low) W+^T g + (x - high) W-^T g, with W = W+ + W-:
        # both transposes in one call, W+ and W- stacked as input channels
        channel = 1 if op.kind == "conv" else -1
        like = x.new_empty(x.shape[:1] + (2 * x.shape[1],) + x.shape[2:]) if op.kind == "conv" else x  # only its shape
        positive, negative = op.backward(grad, torch.cat([wp, wn], 1), like).split(x.shape[channel], channel)
        return positive.mul_(x - low) + negative.mul_(x - high)


RULES: dict[str, Callable[..., Rule]] = {
    "epsilon": Epsilon, "gamma": Gamma, "alpha_beta": AlphaBeta, "zplus": ZPlus, "wsquare": WSquare, "flat": Flat,
    "zbox": ZBox,
}
