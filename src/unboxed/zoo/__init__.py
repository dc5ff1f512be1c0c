"""Small models trained on real data that ships inside packages, and a pretrained ImageNet CNN; all offline."""
from ..errors import InputError
from .base import ZooModel
from .breast_cancer import breast_cancer_mlp
from .digits import digits_cnn
from .imagenet import efficientnet_lite0

MODELS = {"digits_cnn": digits_cnn, "breast_cancer_mlp": breast_cancer_mlp, "efficientnet_lite0": efficientnet_lite0}


def load(name: str, **settings) -> ZooModel:
    """A zoo model by name: 'digits_cnn', 'breast_cancer_mlp' or 'efficientnet_lite0'.

    >>> load("breast_cancer_mlp").layout
    'tabular'
    """
    if name not in MODELS:
        raise InputError(f"unknown zoo model {name!r}; choose from {', '.join(MODELS)}")
    return MODELS[name](**settings)


__all__ = ["MODELS", "ZooModel", "breast_cancer_mlp", "digits_cnn", "efficientnet_lite0", "load"]
from .text import rotten_tomatoes_logreg  # noqa: E402

MODELS["rotten_tomatoes_logreg"] = rotten_tomatoes_logreg
__all__ += ["rotten_tomatoes_logreg"]
from .digits_sequence import digits_sequence  # noqa: E402

MODELS["digits_sequence"] = digits_sequence
__all__ += ["digits_sequence"]
from .watermark import digits_random_labels, digits_watermark  # noqa: E402

MODELS["digits_watermark"] = digits_watermark
MODELS["digits_random_labels"] = digits_random_labels
__all__ += ["digits_random_labels", "digits_watermark"]
