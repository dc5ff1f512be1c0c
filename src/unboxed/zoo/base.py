"""ZooModel: a trained model with the real data it was trained on and what is needed to show it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn


@dataclass
class ZooModel:
    """A ready model and its held-out data.

    `inputs`/`labels` are held-out samples in the model's input format; `display` maps inputs to
    images in [0, 1] (n, h, w, channels) for pictures; `cam_layer` names the last conv layer.
    """

    name: str
    model: nn.Module
    inputs: torch.Tensor
    labels: torch.Tensor | None
    class_names: list[str]
    layout: str
    facts: dict = field(default_factory=dict)
    feature_names: list[str] | None = None
    cam_layer: str | None = None
    sample_names: list[str] | None = None
    display: Callable[[torch.Tensor], np.ndarray] | None = None

    def __repr__(self) -> str:
        return f"ZooModel({self.name!r}, inputs={tuple(self.inputs.shape)}, facts={self.facts})"
