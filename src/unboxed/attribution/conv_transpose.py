"""A convolution's input gradient W^T g (its transposed convolution), fast where the input has few channels.

On a CPU, torch's transposed convolution (the input gradient of conv1d/2d/3d) runs ~10x slower than
it needs to when the convolution reads only a few channels, as the first layer of an image model
does (digits CNN, 64 x 16 x 32 x 32 -> 64 x 1 x 32 x 32: 3.2 ms against 0.3 ms here). There it is
computed as one matrix product that contracts the output channels, giving one map per input channel
and kernel tap, and then one shifted, strided sum per tap. Elsewhere (many channels, groups, a GPU)
torch's own op runs. Every explainer that sends something back through a convolution (LRP's rules,
DeepLIFT's linear layers) goes through here.
"""
from __future__ import annotations

import itertools
import math
from typing import Sequence

import torch

FEW_TAPS = 27  # input channels x kernel taps up to which the sum of taps beats the transposed op (3 x 3 x 3 RGB)


def has_few_taps(weight: torch.Tensor, groups: int) -> bool:
    """Whether `conv_input_gradient` takes the sum of taps for this weight (CPU, ungrouped, few taps)."""
    return weight.device.type == "cpu" and groups == 1 and weight.shape[1] * math.prod(weight.shape[2:]) <= FEW_TAPS


def conv_input_gradient(grad: torch.Tensor, weight: torch.Tensor, like: torch.Tensor, stride: Sequence[int],
                        padding: Sequence[int], dilation: Sequence[int], groups: int) -> torch.Tensor:
    """W^T grad for the convolution of an input shaped like `like` by `weight` (the vector-Jacobian
    product with respect to the input), equal to torch's up to rounding.

    >>> weight, grad, like = torch.randn(16, 1, 3, 3), torch.randn(2, 16, 8, 8), torch.zeros(2, 1, 8, 8)
    >>> ours = conv_input_gradient(grad, weight, like, [1, 1], [1, 1], [1, 1], 1)
    >>> torch_s = torch.nn.grad.conv2d_input(like.shape, weight, grad, padding=1)
    >>> bool(torch.allclose(ours, torch_s, atol=1e-5))
    True
    """
    if not has_few_taps(weight, groups):
        return torch.ops.aten.convolution_backward(grad, like, weight, None, list(stride), list(padding), list(dilation),
                                                   False, [0] * (weight.ndim - 2), groups, [True, False, False])[0]
    return _sum_of_taps(grad, weight, like.shape, stride, padding, dilation)


def _sum_of_taps(grad, weight, shape, stride, padding, dilation) -> torch.Tensor:
    """Output position o of kernel tap a came from input position o * stride + a * dilation - padding:
    each tap's map (output channels contracted by one matrix product) is added there, into a padded
    buffer, whose inside is the gradient."""
    n, out_channels, *outputs = grad.shape
    in_channels, kernel = weight.shape[1], weight.shape[2:]
    per_tap = weight.reshape(out_channels, -1).t()  # (in_channels * taps, out_channels)
    # a batched product keeps the gradient's layout (matmul would copy it transposed first)
    maps = torch.bmm(per_tap.expand(n, -1, -1), grad.reshape(n, out_channels, -1)).view(n, in_channels, *kernel, *outputs)
    sizes = [max((o - 1) * s + (k - 1) * d + 1, i + p)
             for o, s, k, d, i, p in zip(outputs, stride, kernel, dilation, shape[2:], padding)]
    padded = torch.zeros(n, in_channels, *sizes, dtype=grad.dtype, device=grad.device)
    for tap in itertools.product(*(range(k) for k in kernel)):
        window = tuple(slice(a * d, a * d + (o - 1) * s + 1, s) for a, d, o, s in zip(tap, dilation, outputs, stride))
        padded[(slice(None), slice(None), *window)] += maps[(slice(None), slice(None), *tap)]
    inside = tuple(slice(p, p + i) for p, i in zip(padding, shape[2:]))
    return padded[(slice(None), slice(None), *inside)].contiguous()


class FewTapConv(torch.autograd.Function):
    """A convolution as torch computes it, whose backward sends the gradient to the input only, by
    `conv_input_gradient` (for modes that see a model's convolutions and need no weight gradients)."""

    @staticmethod
    def forward(ctx, inputs, weight, bias, options):
        ctx.options = options
        ctx.save_for_backward(inputs, weight)
        return torch.ops.aten.convolution(inputs, weight, bias, options["stride"], options["padding"],
                                          options["dilation"], False, [0] * (weight.ndim - 2), options["groups"])

    @staticmethod
    def backward(ctx, grad):
        inputs, weight = ctx.saved_tensors
        options = ctx.options
        return conv_input_gradient(grad, weight, inputs, options["stride"], options["padding"], options["dilation"],
                                   options["groups"]), None, None, None
