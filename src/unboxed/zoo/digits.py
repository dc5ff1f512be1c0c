"""A small CNN on scikit-learn's handwritten digits (8x8 upsampled to 32x32), trained on first use."""
from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

from .base import ZooModel
from .training import cached_classifier, init_weights, split

IMAGE_SIZE = 32


class DigitsCNN(nn.Module):
    """Three 3x3 conv layers with ReLU modules, two max-pools, global average pooling, linear head."""

    def __init__(self, n_classes: int = 10):
        super().__init__()
        self.conv1, self.relu1 = nn.Conv2d(1, 16, 3, padding=1), nn.ReLU()
        self.conv2, self.relu2 = nn.Conv2d(16, 32, 3, padding=1), nn.ReLU()
        self.pool1, self.pool2 = nn.MaxPool2d(2), nn.MaxPool2d(2)
        self.conv3, self.relu3 = nn.Conv2d(32, 64, 3, padding=1), nn.ReLU()
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - 0.3) / 0.4  # centre the [0, 1] pixels: trains far faster, and inputs stay images
        x = self.pool2(self.relu2(self.conv2(self.pool1(self.relu1(self.conv1(x))))))
        x = self.relu3(self.conv3(x))
        return self.fc(self.gap(x).flatten(1))


def digits_images() -> tuple[torch.Tensor, np.ndarray]:
    """All 1797 digits as (n, 1, 32, 32) float images in [0, 1], and their labels."""
    data = load_digits()
    small = torch.tensor(data.images / 16.0, dtype=torch.float32)[:, None]
    images = nn.functional.interpolate(small, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
    return images.clamp(0, 1), data.target


def digits_cnn(seed: int = 0, epochs: int = 20) -> ZooModel:
    """The digits CNN, trained with `seed` (cached), and its held-out test images.

    >>> zoo = digits_cnn()
    >>> zoo.facts["test_accuracy"] > 0.95
    True
    """
    images, labels = digits_images()
    train, test = split(len(labels), 0.25, seed, labels)
    y = torch.tensor(labels, dtype=torch.long)
    model = init_weights(DigitsCNN(), seed)
    facts = cached_classifier("digits_cnn", {"seed": seed, "epochs": epochs, "version": 2}, model, images, y, train, test,
                              epochs=epochs, lr=3e-3, batch_size=16, seed=seed)
    return ZooModel(
        name="digits_cnn", model=model, inputs=images[test], labels=y[test], class_names=[str(d) for d in range(10)],
        layout="image", facts=facts, cam_layer="conv3",
        display=lambda x: x.detach().cpu().permute(0, 2, 3, 1).numpy().clip(0, 1),
    )
