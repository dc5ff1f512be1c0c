"""A small ResNet on scikit-learn's digits: BatchNorm, skip connections and functional ReLUs, trained on first use.

The same images and held-out split as `digits_cnn`, so the two can be compared case by case. It is
here for the methods whose rules must see through residual additions and BatchNorm (LRP, DeepLIFT).
"""
from __future__ import annotations


import torch
import torch.nn.functional as F
from torch import nn

from .base import ZooModel
from .digits import digits_images
from .training import cached_classifier, init_weights, split


class ResidualBlock(nn.Module):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)); the shortcut is a strided 1x1 conv + BatchNorm
    when the shape changes, else the identity.

    Children are declared in the order the forward pass meets them, so "a BatchNorm right after its
    conv" can be read off the module list (what BatchNorm-merging canonizers rely on).
    """

    def __init__(self, channels_in: int, channels_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels_out)
        self.conv2 = nn.Conv2d(channels_out, channels_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels_out)
        self.shortcut = nn.Identity()
        if stride != 1 or channels_in != channels_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(channels_in, channels_out, 1, stride=stride, bias=False), nn.BatchNorm2d(channels_out),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class DigitsResNet(nn.Module):
    """Stem (strided 3x3 conv + BatchNorm + ReLU module) -> 32x32 becomes 16x16, an identity block,
    a projection block (stride 2, 16 -> 32 channels), global average pooling, linear head."""

    def __init__(self, n_classes: int = 10, width: int = 16):
        super().__init__()
        self.conv = nn.Conv2d(1, width, 3, stride=2, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.block1 = ResidualBlock(width, width)
        self.block2 = ResidualBlock(width, 2 * width, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2 * width, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - 0.3) / 0.4  # centred inside, as in digits_cnn: a zero baseline still means a black image
        x = self.relu(self.bn(self.conv(x)))
        x = self.block2(self.block1(x))
        return self.fc(self.pool(x).flatten(1))



def digits_resnet(seed: int = 0, epochs: int = 8) -> ZooModel:
    """The digits ResNet, trained with `seed` (cached), and the same held-out test images as `digits_cnn`.

    >>> zoo = digits_resnet()
    >>> zoo.facts["test_accuracy"] > 0.95, zoo.cam_layer
    (True, 'block2.conv2')
    """
    images, labels = digits_images()
    train, test = split(len(labels), 0.25, seed, labels)
    y = torch.tensor(labels, dtype=torch.long)
    model = init_weights(DigitsResNet(), seed)
    facts = cached_classifier("digits_resnet", {"seed": seed, "epochs": epochs, "version": 1}, model, images, y, train,
                              test, epochs=epochs, lr=3e-3, batch_size=32, seed=seed, single_thread=True)
    return ZooModel(
        name="digits_resnet", model=model, inputs=images[test], labels=y[test], class_names=[str(d) for d in range(10)],
        layout="image", facts=facts, cam_layer="block2.conv2",
        display=lambda x: x.detach().cpu().permute(0, 2, 3, 1).numpy().clip(0, 1),
    )
