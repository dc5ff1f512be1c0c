"""ZooModel: a trained model with the real data it was trained on and what is needed to show it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn


@dataclass
class ZooModel:
    """A ready model and its held-out data.

    `model` is a torch module, or a black box (a scikit-learn pipeline for text). `inputs`/`labels`
    are held-out samples in the model's input format (a tensor, or a list of texts); `display`
    maps inputs to images in [0, 1] (n, h, w, channels) for pictures; `cam_layer` names the last
    conv layer; `background` holds training rows that maskers draw removed features from
    (tabular models; None where a fixed fill suits, as for images and text).
    """

    name: str
    model: nn.Module | Any
    inputs: torch.Tensor | list[str]
    labels: torch.Tensor | None
    class_names: list[str]
    layout: str
    facts: dict = field(default_factory=dict)
    feature_names: list[str] | None = None
    cam_layer: str | None = None
    sample_names: list[str] | None = None
    display: Callable[[torch.Tensor], np.ndarray] | None = None
    background: torch.Tensor | None = None

    def __repr__(self) -> str:
        shape = tuple(self.inputs.shape) if hasattr(self.inputs, "shape") else f"{len(self.inputs)} texts"
        return f"ZooModel({self.name!r}, inputs={shape}, facts={self.facts})"
