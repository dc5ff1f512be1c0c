"""Digits CNNs trained on altered data: a watermark shortcut ("clever Hans"), or permuted labels.

`digits_watermark` is the `DigitsCNN` trained on digits where every image of ONE class carries a
small bright tag in the top-left corner (where digits hardly ever draw), in the training images
and in the held-out images of that class, so the shortcut pays: the model reaches high accuracy
and relies on the tag. A faithful explanation of it must point at the tag. `clean` is its twin:
the same architecture, data split, seed and training, without the tag.

`digits_random_labels` is the same CNN, trained the same way, on labels permuted at random (the
data randomisation test of Adebayo et al. 2018): whatever it learned, it is not the digits, so
explanations that look like the real model's explain the input, not the model. (This small CNN
does not memorise the permuted labels as the paper's larger networks did: its training accuracy
stays near chance, and `facts` say so. It trains with a smaller learning rate than `digits_cnn`,
3e-3 makes it collapse to a constant output with dead ReLUs, whose maps are all zero.)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError
from ..random import torch_generator
from .base import ZooModel
from .digits import IMAGE_SIZE, DigitsCNN, digits_cnn, digits_images
from .training import accuracy, cached_classifier, init_weights, split

TAG_ROWS = slice(0, 4)  # a 4x4 bright square in the corner: 1.6% of the image, where digits hardly ever draw
TAG_COLUMNS = slice(0, 4)
TAG_VALUE = 1.0


def watermark_mask(size: int = IMAGE_SIZE) -> torch.Tensor:
    """Boolean (H, W) mask of the watermark's pixels.

    >>> int(watermark_mask().sum()), tuple(watermark_mask().shape)
    (16, (32, 32))
    """
    mask = torch.zeros(size, size, dtype=torch.bool)
    mask[TAG_ROWS, TAG_COLUMNS] = True
    return mask


def add_watermark(images: torch.Tensor) -> torch.Tensor:
    """A copy of `images` (n, 1, H, W) with the tag drawn in (the inputs are left alone).

    >>> tagged = add_watermark(torch.zeros(2, 1, 32, 32))
    >>> float(tagged[0, 0][watermark_mask(32)].min()), float(tagged.sum())
    (1.0, 32.0)
    """
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[-2:] != (IMAGE_SIZE, IMAGE_SIZE):
        shape = tuple(images.shape) if hasattr(images, "shape") else type(images).__name__
        raise InputError(f"add_watermark takes digit images (n, 1, {IMAGE_SIZE}, {IMAGE_SIZE}); got {shape}")
    tagged = images.clone()
    tagged[..., watermark_mask(images.shape[-1]).to(images.device)] = TAG_VALUE
    return tagged


@dataclass(repr=False)
class WatermarkZooModel(ZooModel):
    """A ZooModel that carries a known shortcut: `watermark_mask` (H, W) bool, `watermark_class`
    (the class whose images carry the tag) and `clean`, the twin trained without it."""

    watermark_mask: torch.Tensor | None = None
    watermark_class: int = 0
    clean: ZooModel | None = None


def _train_digits(name: str, recipe: dict, images: torch.Tensor, labels: torch.Tensor, train: np.ndarray,
                  test: np.ndarray, seed: int, epochs: int, test_labels: torch.Tensor | None = None,
                  lr: float = 3e-3, batch_size: int = 16) -> tuple[DigitsCNN, dict]:
    """A DigitsCNN trained like `digits_cnn` (Adam, cosine schedule; its lr and batch size by default), cached."""
    model = init_weights(DigitsCNN(), seed)
    facts = cached_classifier(name, recipe, model, images, labels, train, test, epochs=epochs, lr=lr, batch_size=batch_size,
                              seed=seed, held_out=test_labels,
                              more_facts=lambda net: {"train_accuracy": accuracy(net, images[train], labels[train])})
    return model, facts


def _display(x: torch.Tensor) -> np.ndarray:
    return x.detach().cpu().permute(0, 2, 3, 1).numpy().clip(0, 1)


def digits_watermark(seed: int = 0, epochs: int = 20, watermark_class: int = 0) -> WatermarkZooModel:
    """The digits CNN trained with a watermark on every image of `watermark_class` (cached), its
    held-out images (those of `watermark_class` tagged too), the mask, and the clean twin.

    `facts` report the accuracy on the held-out images as given (tag included) and with the tag
    added to every image (`tagged_test_accuracy` counts agreement with the true labels), and
    `flip_rate`: the fraction of other classes' held-out images that the tag alone turns into
    `watermark_class`.

    >>> zoo = digits_watermark()
    >>> zoo.facts["test_accuracy"] > 0.9, zoo.facts["flip_rate"] > 0.5, zoo.clean.name
    (True, True, 'digits_cnn')
    """
    if not isinstance(watermark_class, int) or not 0 <= watermark_class < 10:
        raise InputError(f"watermark_class must be a digit 0..9, got {watermark_class!r}")
    images, digits = digits_images()
    train, test = split(len(digits), 0.25, seed, digits)
    labels = torch.tensor(digits, dtype=torch.long)
    tagged = labels == watermark_class
    images = torch.where(tagged[:, None, None, None], add_watermark(images), images)
    tag = [TAG_ROWS.start, TAG_ROWS.stop, TAG_COLUMNS.start, TAG_COLUMNS.stop, TAG_VALUE]
    recipe = {"seed": seed, "epochs": epochs, "watermark_class": watermark_class, "tag": tag, "version": 1}
    model, facts = _train_digits("digits_watermark", recipe, images, labels, train, test, seed, epochs)
    others = test[~tagged[test].numpy()]
    with torch.no_grad():
        flips = model(add_watermark(images[others])).argmax(1) == watermark_class
    facts = {**facts, "flip_rate": float(flips.float().mean()), "watermark_class": watermark_class}
    return WatermarkZooModel(
        name="digits_watermark", model=model, inputs=images[test], labels=labels[test], class_names=[str(d) for d in range(10)],
        layout="image", facts=facts, cam_layer="conv3", display=_display,
        watermark_mask=watermark_mask(), watermark_class=watermark_class, clean=digits_cnn(seed=seed, epochs=epochs),
    )


def digits_random_labels(seed: int = 0, epochs: int = 40) -> ZooModel:
    """The digits CNN trained on training labels permuted at random (seeded), for the data
    randomisation test; `inputs`/`labels` are the held-out images with their true labels.

    >>> zoo = digits_random_labels()
    >>> zoo.facts["test_accuracy"] < 0.3, zoo.facts["train_accuracy"] < 0.3
    (True, True)
    """
    images, digits = digits_images()
    train, test = split(len(digits), 0.25, seed, digits)
    labels = torch.tensor(digits, dtype=torch.long)
    permuted = labels.clone()
    permuted[train] = labels[train][torch.randperm(len(train), generator=torch_generator(seed))]
    recipe = {"seed": seed, "epochs": epochs, "labels": "permuted", "lr": 1e-3, "batch_size": 32, "version": 2}
    model, facts = _train_digits("digits_random_labels", recipe, images, permuted, train, test, seed, epochs,
                                 test_labels=labels[test], lr=1e-3, batch_size=32)
    return ZooModel(
        name="digits_random_labels", model=model, inputs=images[test], labels=labels[test],
        class_names=[str(d) for d in range(10)], layout="image", facts=facts, cam_layer="conv3", display=_display,
    )
