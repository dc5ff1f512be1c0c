"""Image masker: superpixels (scikit-image) or a regular grid, removed regions filled with a
constant, a blurred copy, the image's mean colour or a background image."""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from ..choosing import choose
from ..errors import InputError
from ..validation import as_tensor, check_choice, check_positive_float, check_positive_int
from .base import Features, Masker

SEGMENTATIONS = ("slic", "quickshift", "felzenszwalb", "grid")


class ImageMasker(Masker):
    """Remove image regions: superpixels or grid cells, filled with something neutral.

    - `segmentation`: "slic" (default), "quickshift", "felzenszwalb" (scikit-image; computed per
      image on the image rescaled to [0, 1]) or "grid" (`grid` = (rows, cols) equal cells).
    - `n_segments`: SLIC's target number of superpixels; `segment_options` go to scikit-image.
    - `fill`: a number (every channel), "mean" (the image's mean colour), "blur" (a Gaussian-blurred
      copy, `blur_sigma` in pixels) or a background image tensor (C, H, W) or (n, C, H, W).

    Inputs are (n, C, H, W) tensors as the model takes them.

    >>> import torch
    >>> masker = ImageMasker(segmentation="grid", grid=(2, 2), fill=0.0)
    >>> x = masker.check(torch.ones(1, 1, 4, 4))
    >>> f = masker.features(x)
    >>> masker.mask(x, f, torch.tensor([0]), torch.tensor([[True, False, False, True]]))[0, 0].tolist()
    [[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]]
    """

    kind = "image"

    def __init__(
        self,
        segmentation: str = "slic",
        n_segments: int = 50,
        grid: tuple[int, int] = (8, 8),
        fill: float | str | Any = 0.0,
        blur_sigma: float = 8.0,
        segment_options: dict[str, Any] | None = None,
    ):
        self.segmentation = check_choice(segmentation, "segmentation", SEGMENTATIONS)
        self.n_segments = check_positive_int(n_segments, "n_segments")
        self.grid = tuple(check_positive_int(g, "grid") for g in (grid if not isinstance(grid, int) else (grid, grid)))
        if isinstance(fill, str):
            check_choice(fill, "fill", ("mean", "blur"))
        self.fill = fill
        self.blur_sigma = check_positive_float(blur_sigma, "blur_sigma")
        self.segment_options = dict(segment_options or {})

    def check(self, inputs: Any) -> torch.Tensor:
        tensor = as_tensor(inputs, "inputs")
        if tensor.ndim != 4:
            raise InputError(f"image inputs must be (n, channels, height, width); got shape {tuple(tensor.shape)}")
        if self.segmentation == "grid" and any(g > s for g, s in zip(self.grid, tensor.shape[2:])):
            raise InputError(f"grid {self.grid} has more cells than the image has pixels ({tuple(tensor.shape[2:])})")
        if isinstance(self.fill, torch.Tensor) or isinstance(self.fill, np.ndarray):
            fill = torch.as_tensor(self.fill)
            if tuple(fill.shape[-3:]) != tuple(tensor.shape[1:]) or fill.ndim not in (3, 4):
                raise InputError(f"background image has shape {tuple(fill.shape)}; it must be (C, H, W) like the inputs {tuple(tensor.shape[1:])}")
            if fill.ndim == 4 and len(fill) not in (1, len(tensor)):
                raise InputError(f"{len(fill)} background images for {len(tensor)} inputs: give one, or one per input")
        return tensor

    def features(self, inputs: torch.Tensor) -> Features:
        segments = self._grid(inputs) if self.segmentation == "grid" else self._superpixels(inputs)
        counts = (segments.flatten(1).max(1).values + 1).cpu().numpy()
        return Features(counts=counts, segments=segments, state={"fill": self._fill(inputs)})

    def _grid(self, inputs: torch.Tensor) -> torch.Tensor:
        height, width = inputs.shape[2:]
        rows = torch.arange(height, device=inputs.device) * self.grid[0] // height
        cols = torch.arange(width, device=inputs.device) * self.grid[1] // width
        cell = rows[:, None] * self.grid[1] + cols[None, :]
        return cell.expand(len(inputs), height, width).contiguous()

    def _superpixels(self, inputs: torch.Tensor) -> torch.Tensor:
        from skimage import segmentation

        images = inputs.detach().cpu().double().numpy()
        low = images.min(axis=(1, 2, 3), keepdims=True)
        span = np.maximum(images.max(axis=(1, 2, 3), keepdims=True) - low, 1e-12)
        images = ((images - low) / span).transpose(0, 2, 3, 1)  # (n, H, W, C) in [0, 1]
        labels = []
        for image in images:  # scikit-image segments one image at a time
            if self.segmentation == "slic":
                options = {"n_segments": self.n_segments, "compactness": 10.0, "start_label": 0, **self.segment_options}
                gray = image.shape[-1] == 1
                label = segmentation.slic(image[..., 0] if gray else image, channel_axis=None if gray else -1, **options)
            elif self.segmentation == "quickshift":
                rgb = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image
                label = segmentation.quickshift(rgb, **{"kernel_size": 4, "max_dist": 200, "ratio": 0.2, **self.segment_options})
            else:
                options = {"scale": 100, "sigma": 0.5, "min_size": 50, **self.segment_options}
                label = segmentation.felzenszwalb(image, channel_axis=-1, **options)
            labels.append(np.unique(label, return_inverse=True)[1].reshape(label.shape))  # 0..k-1
        return torch.as_tensor(np.stack(labels), dtype=torch.long, device=inputs.device)

    def _fill(self, inputs: torch.Tensor) -> torch.Tensor:
        if isinstance(self.fill, numbers.Real):
            return torch.full_like(inputs[:1], float(self.fill))
        if isinstance(self.fill, str) and self.fill == "mean":
            return inputs.mean(dim=(2, 3), keepdim=True).expand_as(inputs)
        if isinstance(self.fill, str):  # blur
            images = inputs.detach().cpu().numpy()
            blurred = gaussian_filter(images, sigma=(0, 0, self.blur_sigma, self.blur_sigma), mode="nearest")
            return torch.as_tensor(blurred, device=inputs.device, dtype=inputs.dtype)
        fill = torch.as_tensor(self.fill, device=inputs.device, dtype=inputs.dtype)
        return fill[None] if fill.ndim == 3 else fill

    def mask(self, inputs: torch.Tensor, features: Features, rows: torch.Tensor, keep: torch.Tensor, out=None) -> torch.Tensor:
        segments = features.segments[rows]  # (m, H, W)
        keep_pixels = keep.to(inputs.dtype).gather(1, segments.flatten(1)).view(len(rows), 1, *segments.shape[1:])
        fill = features.state["fill"]
        fill = fill[rows] if len(fill) > 1 else fill
        return choose(keep_pixels, inputs[rows], fill)

    def describe(self) -> dict[str, Any]:
        fill = self.fill if isinstance(self.fill, (numbers.Real, str)) else "background image"
        return {"masker": "image", "segmentation": self.segmentation,
                "segments": self.n_segments if self.segmentation == "slic" else list(self.grid) if self.segmentation == "grid" else None,
                "fill": fill}
