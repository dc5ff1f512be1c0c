"""Baselines: the 'absence of signal' an attribution is measured against."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from ..random import torch_generator
from ..errors import InputError
from ..validation import broadcast_like

BASELINE_NAMES = ("zeros", "blur", "uniform")


def make_baselines(spec: Any, inputs: torch.Tensor, seed: int | None = 0, blur_sigma: float = 5.0) -> torch.Tensor:
    """Resolve a baseline specification into a tensor of shape (k, *inputs.shape).

    `spec` is "zeros", a number (constant), "blur" (Gaussian blur of each image, `blur_sigma`
    pixels), "uniform" (uniform noise over the inputs' range, seeded), a tensor or array that
    broadcasts to the inputs, or a list of these, which gives k baselines to average over.

    >>> make_baselines(["zeros", 1.0], torch.ones(2, 3)).shape
    torch.Size([2, 2, 3])
    """
    specs = spec if isinstance(spec, list) else [spec]
    if not specs:
        raise InputError("baselines is an empty list: give at least one baseline")
    generator = torch_generator(seed)
    return torch.stack([_one_baseline(item, inputs, generator, blur_sigma) for item in specs])


def _one_baseline(spec: Any, inputs: torch.Tensor, generator: torch.Generator, blur_sigma: float) -> torch.Tensor:
    if isinstance(spec, str):
        if spec == "zeros":
            return torch.zeros_like(inputs)
        if spec == "blur":
            return _blurred(inputs, blur_sigma)
        if spec == "uniform":
            low, high = inputs.min(), inputs.max()
            noise = torch.rand(inputs.shape, generator=generator, dtype=inputs.dtype)
            return (low + (high - low) * noise.to(inputs.device)).to(inputs.dtype)
        raise InputError(f"unknown baseline {spec!r}; use one of {', '.join(BASELINE_NAMES)}, a number or a tensor")
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        return torch.full_like(inputs, float(spec))
    if isinstance(spec, np.ndarray):
        spec = torch.from_numpy(spec)
    return broadcast_like(spec, inputs, "baseline").clone()


def _blurred(inputs: torch.Tensor, sigma: float) -> torch.Tensor:
    if inputs.ndim < 3:
        raise InputError(f"a blurred baseline needs spatial inputs (n, channels, ...); got shape {tuple(inputs.shape)}")
    spatial = inputs.ndim - 2
    sigmas = (0, 0) + (sigma,) * spatial
    array = inputs.detach().cpu().numpy()
    return torch.from_numpy(gaussian_filter(array, sigma=sigmas, mode="nearest")).to(inputs.device, inputs.dtype)
