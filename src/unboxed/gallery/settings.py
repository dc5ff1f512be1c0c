"""How each method runs on each zoo model in the gallery (and in `unboxed explain`): per-model
settings that keep the demo fast, the layer for methods that need one, the model's background rows
for methods that remove features, and which methods do not apply to a model's kind of input."""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..errors import UnboxedError
from ..maskers import ImageMasker, Masker, TabularMasker
from ..model import adapt
from ..taxonomy import Access, get_method

IMAGE_MODELS = ("digits_cnn", "efficientnet_lite0")


@dataclass(frozen=True)
class FromModel:
    """A setting computed from the zoo model (its background rows, feature names, ...).

    >>> from unboxed import zoo
    >>> FromModel(lambda zoo_model: zoo_model.feature_names[:2]).make(zoo.load("breast_cancer_mlp"))
    ['mean radius', 'mean texture']
    """

    make: Callable[[Any], Any]


def breast_cancer_groups(feature_names: Sequence[str]) -> dict[str, list[str]]:
    """The 10 cell-nucleus measurements of the breast-cancer data, each as one feature made of its
    three columns: the mean, the standard error and the worst value.

    >>> breast_cancer_groups(["mean radius", "radius error", "worst radius"])
    {'radius': ['mean radius', 'radius error', 'worst radius']}
    """
    groups: dict[str, list[str]] = {}
    for name in feature_names:
        measure = name.removeprefix("mean ").removeprefix("worst ").removesuffix(" error")
        groups.setdefault(measure, []).append(name)
    return groups


SUPERPIXELS = ImageMasker(segmentation="slic", n_segments=50)
GROUPED_CANCER = FromModel(
    lambda zoo_model: TabularMasker(zoo_model.background, groups=breast_cancer_groups(zoo_model.feature_names),
                                    feature_names=zoo_model.feature_names))
# Without a background data set, gradient SHAP on images integrates from a blank image (0: black digits,
# the mean colour of ImageNet's normalised photos).
BLANK_IMAGE = FromModel(lambda zoo_model: torch.zeros_like(zoo_model.inputs[:1]))


def _on_images(settings: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: dict(settings) for name in IMAGE_MODELS}


# Settings per method and zoo model ("*": any model). Anything not named here is the method's
# own default. Chosen so that the whole gallery runs in a few minutes on two CPU cores.
SETTINGS: dict[str, dict[str, dict[str, Any]]] = {
    "integrated_gradients": {"efficientnet_lite0": {"n_steps": 32}},
    "smoothgrad": {"efficientnet_lite0": {"n_samples": 10}},
    "occlusion": {
        "digits_cnn": {"window": (1, 4, 4), "stride": (1, 2, 2)},
        "efficientnet_lite0": {"window": (3, 32, 32), "stride": (3, 16, 16)},
        "breast_cancer_mlp": {"window": (1,), "stride": (1,)},
    },
    "feature_ablation": _on_images({"masker": SUPERPIXELS}),
    # 2^30 coalitions of single columns are out of reach; 2^10 of the measurement groups are not
    "exact_shapley": {"breast_cancer_mlp": {"masker": GROUPED_CANCER}, "rotten_tomatoes_logreg": {"max_features": 14},
                      **_on_images({"masker": SUPERPIXELS})},
    "kernel_shap": {"*": {"n_samples": 500}, "digits_cnn": {"masker": SUPERPIXELS, "n_samples": 500},
                    "efficientnet_lite0": {"masker": SUPERPIXELS, "n_samples": 100}},
    "sampling_shapley": {"*": {"n_permutations": 20}, "digits_cnn": {"masker": SUPERPIXELS, "n_permutations": 10},
                         "efficientnet_lite0": {"masker": SUPERPIXELS, "n_permutations": 2}},
    "deeplift_shap": _on_images({"background": BLANK_IMAGE}),
    "gradient_shap": {"*": {"n_samples": 50}, "digits_cnn": {"background": BLANK_IMAGE, "n_samples": 32},
                      "efficientnet_lite0": {"background": BLANK_IMAGE, "n_samples": 8}},
    "lime": {"*": {"n_samples": 500}, "digits_cnn": {"masker": SUPERPIXELS, "n_samples": 500, "coalitions": "bernoulli"},
             "efficientnet_lite0": {"masker": SUPERPIXELS, "n_samples": 100, "coalitions": "bernoulli"}},
    # LEMNA's EM over fused-lasso fits costs more than its model calls: fewer EM rounds than its default 30
    "lemna": {"*": {"n_samples": 200, "n_iterations": 10},
              "digits_cnn": {"masker": SUPERPIXELS, "n_samples": 200, "n_iterations": 10},
              "efficientnet_lite0": {"masker": SUPERPIXELS, "n_samples": 100, "n_iterations": 10}},
    "permutation_importance": {"*": {"metric": "neg_log_loss", "n_repeats": 10}},
}
# Methods that only make sense for some layouts, and why.
LAYOUTS: dict[str, tuple[tuple[str, ...], str]] = {
    "permutation_importance": (("tabular",), "permutation importance shuffles table columns across rows"),
    "occlusion": (("image", "tabular", "sequence"), "occlusion slides a window over numeric inputs (feature_ablation removes words)"),
}


class NotApplicable(UnboxedError):
    """A method that cannot run on a model (e.g. a class activation map on a model without conv layers)."""


def gallery_settings(method_name: str, zoo_model) -> dict[str, Any]:
    """The settings to run `method_name` with on `zoo_model` (a `ZooModel`).

    Per-model entries of `SETTINGS` (a `FromModel` entry is computed from the zoo model), plus
    `layer=zoo_model.cam_layer` for methods whose constructor takes a `layer`, and
    `background=zoo_model.background` for methods that take one when no masker is set. Settings
    the method's constructor does not take are dropped. Raises `NotApplicable` (with the
    reason) when the method needs what the model lacks: a layer, gradients, a background, a layout.

    >>> from unboxed import zoo
    >>> gallery_settings("occlusion", zoo.load("breast_cancer_mlp"))
    {'window': (1,), 'stride': (1,)}
    """
    explainer = get_method(method_name)
    parameters = inspect.signature(explainer.__init__).parameters
    layouts, why = LAYOUTS.get(method_name, (None, ""))
    if layouts is not None and zoo_model.layout not in layouts:
        raise NotApplicable(f"{why}; {zoo_model.name} takes {zoo_model.layout} inputs")
    if explainer.info.access in (Access.GRADIENTS, Access.INTERNALS) and not adapt(zoo_model.model).has_gradients:
        raise NotApplicable(f"{method_name} needs gradients; {zoo_model.name} is a black box ({type(zoo_model.model).__name__})")
    table = SETTINGS.get(method_name, {})
    settings = {**table.get("*", {}), **table.get(zoo_model.name, {})}
    settings = {key: value.make(zoo_model) if isinstance(value, FromModel) else value for key, value in settings.items()}
    if "layer" in parameters:
        if zoo_model.cam_layer is None:
            raise NotApplicable(f"{method_name} needs a convolutional layer; {zoo_model.name} has none")
        settings["layer"] = zoo_model.cam_layer
    if "background" in parameters and "background" not in settings and "masker" not in settings:
        if zoo_model.background is not None:
            settings["background"] = zoo_model.background  # features are removed by drawing from these rows
        elif parameters["background"].default is inspect.Parameter.empty:
            raise NotApplicable(f"{method_name} needs a background data set; {zoo_model.name} has none")
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    return {key: value for key, value in settings.items() if takes_any or key in parameters}


def describe_setting(value: Any) -> str:
    """A short text for a setting: maskers by their settings, data sets by their size, the rest by repr.

    >>> describe_setting(torch.zeros(50, 30)), describe_setting((1, 4, 4))
    ('50 rows', '(1, 4, 4)')
    """
    if isinstance(value, Masker):
        facts = ", ".join(f"{k}={v}" for k, v in value.describe().items() if k != "masker" and v is not None)
        return f"{type(value).__name__}({facts})"
    if isinstance(value, (torch.Tensor, np.ndarray)) and value.ndim > 1:
        return f"{len(value)} row{'s' if len(value) != 1 else ''}"
    return repr(value)
