"""Small models trained on real data that ships inside packages, and a pretrained ImageNet CNN; all offline."""
from ..errors import InputError
from .base import ZooModel
from .breast_cancer import breast_cancer_mlp
from .digits import digits_cnn
from .digits_resnet import digits_resnet
from .digits_sequence import digits_sequence
from .german_credit import german_credit_mlp
from .imagenet import efficientnet_lite0
from .text import rotten_tomatoes_logreg
from .watermark import digits_random_labels, digits_watermark

MODELS = {
    "digits_cnn": digits_cnn,  # CNN on scikit-learn's digits (1x32x32)
    "breast_cancer_mlp": breast_cancer_mlp,  # MLP on scikit-learn's breast cancer (30 features)
    "german_credit_mlp": german_credit_mlp,  # MLP on Statlog German credit (20 attributes, codes + raw numbers)
    "efficientnet_lite0": efficientnet_lite0,  # pretrained ImageNet CNN on scikit-image's photos
    "rotten_tomatoes_logreg": rotten_tomatoes_logreg,  # TF-IDF + logistic regression on review snippets (black box)
    "digits_resnet": digits_resnet,  # small ResNet on digits (BatchNorm, skip connections, F.relu) for LRP/DeepLIFT
    "digits_sequence": digits_sequence,  # 1-D CNN on digits read as 64-step sequences
    "digits_watermark": digits_watermark,  # digits CNN that learned a corner tag as a shortcut for "0"
    "digits_random_labels": digits_random_labels,  # digits CNN trained on permuted labels (sanity checks)
}


def load(name: str, **settings) -> ZooModel:
    """A zoo model by name (the keys of `MODELS`).

    >>> load("breast_cancer_mlp").layout
    'tabular'
    >>> sorted(MODELS)[:3]
    ['breast_cancer_mlp', 'digits_cnn', 'digits_random_labels']
    """
    if name not in MODELS:
        raise InputError(f"unknown zoo model {name!r}; choose from {', '.join(MODELS)}")
    return MODELS[name](**settings)


__all__ = [
    "MODELS", "ZooModel", "breast_cancer_mlp", "digits_cnn", "digits_random_labels", "digits_resnet", "digits_sequence",
    "digits_watermark", "efficientnet_lite0", "german_credit_mlp", "load", "rotten_tomatoes_logreg",
]
