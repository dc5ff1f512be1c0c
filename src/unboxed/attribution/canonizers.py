"""Canonizers: rewrite a model for the duration of an explanation so that LRP's rules apply to it,
and always put it back.

`merged_batch_norm(model, sample)` folds every BatchNorm that directly follows a linear layer
(conv or linear) into that layer's weights and bias, and makes the BatchNorm the identity: the
pair is one linear layer, and rules like z+ or gamma then see the weights the model really applies
(Montavon et al. 2019; Zennit's `MergeBatchNorm`). The pairs are found by watching one forward
pass, not by the order of modules, so functional calls and any nesting work. Residual sums,
average pooling and ReLU6 need no rewrite here: `RelevanceMode` gives them their rules where
they are called.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from .relevance_mode import CONVOLUTIONS, HARMLESS, LINEAR


NORM_STATE = ("weight", "bias", "running_mean", "running_var")


@dataclass
class _Pair:
    layer: nn.Module  # the conv or linear layer (owns weight and bias)
    norm: nn.Module  # the BatchNorm that follows it


class _PairFinder(TorchFunctionMode):
    """Records (layer output -> layer) and BatchNorms whose input is such an output, used nowhere else."""

    def __init__(self, owners: dict[int, nn.Module], norms: dict[int, nn.Module]):
        super().__init__()
        self.owners, self.norms = owners, norms
        self.outputs: dict[int, tuple[torch.Tensor, nn.Module]] = {}  # id(output) -> (output kept alive, layer)
        self.uses: dict[int, int] = {}
        self.found: list[tuple[int, nn.Module, nn.Module]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__name__", "") not in HARMLESS:  # reading a shape is no use of the values
            for value in list(args) + list(kwargs.values()):
                if isinstance(value, torch.Tensor) and id(value) in self.outputs:
                    self.uses[id(value)] = self.uses.get(id(value), 0) + 1
        output = func(*args, **kwargs)
        if func in LINEAR or func in CONVOLUTIONS:
            weight = args[1] if len(args) > 1 else kwargs.get("weight")
            layer = self.owners.get(id(weight))
            if layer is not None and isinstance(output, torch.Tensor):
                self.outputs[id(output)] = (output, layer)
        elif func is F.batch_norm or func is torch.batch_norm:
            source = self.outputs.get(id(args[0]))
            norm = self.norms.get(id(args[3] if len(args) > 3 else kwargs.get("weight")))
            if source is not None and norm is not None:
                self.found.append((id(args[0]), source[1], norm))
        return output

    def pairs(self) -> list[_Pair]:
        return [_Pair(layer, norm) for key, layer, norm in self.found if self.uses.get(key, 0) == 1]


def batch_norm_pairs(model: nn.Module, sample: torch.Tensor) -> list[_Pair]:
    """The (linear layer, BatchNorm) pairs a forward pass of `sample` goes through, where the
    BatchNorm alone reads the layer's output (so merging them changes nothing else)."""
    owners = {id(m.weight): m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))}
    norms = {id(m.weight): m for m in model.modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine and m.track_running_stats}
    finder = _PairFinder(owners, norms)
    with torch.no_grad(), finder:
        model(sample)
    return finder.pairs()


@contextmanager
def merged_batch_norm(model: nn.Module, sample: torch.Tensor) -> Iterator[list[_Pair]]:
    """Within the block, each BatchNorm after a linear layer is folded into it (see the module
    doc); weights, biases and statistics are restored on exit, also when the block raises.

    >>> net = nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.BatchNorm2d(2)).eval()
    >>> with torch.no_grad(): net[1].running_mean.fill_(0.5)
    tensor([0.5000, 0.5000])
    >>> x = torch.rand(1, 1, 5, 5)
    >>> with merged_batch_norm(net, x) as pairs:
    ...     merged = net(x)
    >>> len(pairs), bool(torch.allclose(merged, net(x), atol=1e-6)), net[0].bias is None
    (1, True, True)
    """
    has_norms = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    pairs = [p for p in batch_norm_pairs(model, sample) if not p.norm.training] if has_norms else []  # no trace needed
    saved = [_save(pair) for pair in pairs]
    try:
        with torch.no_grad():
            for pair in pairs:
                _fold(pair)
        yield pairs
    finally:
        with torch.no_grad():
            for pair, state in zip(pairs, saved):
                _restore(pair, state)


def _save(pair: _Pair) -> dict:
    layer, norm = pair.layer, pair.norm
    return {"weight": layer.weight.detach().clone(), "bias": None if layer.bias is None else layer.bias.detach().clone(),
            "had_bias": layer.bias is not None,
            **{f"norm {name}": getattr(norm, name).detach().clone() for name in NORM_STATE}}


def _fold(pair: _Pair) -> None:
    layer, norm = pair.layer, pair.norm
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    shape = (-1,) + (1,) * (layer.weight.ndim - 1)
    bias = layer.bias if layer.bias is not None else torch.zeros_like(norm.running_mean)
    new_bias = (bias - norm.running_mean) * scale + norm.bias
    layer.weight.mul_(scale.view(shape))
    if layer.bias is None:
        layer.bias = nn.Parameter(new_bias, requires_grad=layer.weight.requires_grad)
    else:
        layer.bias.copy_(new_bias)
    norm.weight.fill_(1.0)
    norm.bias.zero_()
    norm.running_mean.zero_()
    norm.running_var.fill_(1.0 - norm.eps)


def _restore(pair: _Pair, state: dict) -> None:
    layer, norm = pair.layer, pair.norm
    layer.weight.copy_(state["weight"])
    if state["had_bias"]:
        layer.bias.copy_(state["bias"])
    else:
        layer.bias = None
    for name in NORM_STATE:
        getattr(norm, name).copy_(state[f"norm {name}"])
