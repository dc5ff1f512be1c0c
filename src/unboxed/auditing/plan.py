"""What an audit runs: the methods for a model and its data, their settings under the budget, and the metrics."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..errors import InputError, UnboxedError
from ..maskers import ImageMasker, TabularMasker
from ..taxonomy import Access, Format, Scope, get_method
from .subject import Subject

# Methods shown side by side on the chosen cases, by layout and by what the model gives.
DEFAULT_METHODS = {
    ("tabular", "gradients"): ("kernel_shap", "lime", "integrated_gradients", "deeplift", "saliency"),
    ("tabular", "black-box"): ("kernel_shap", "lime", "feature_ablation"),
    ("image", "gradients"): ("saliency", "integrated_gradients", "grad_cam", "guided_backprop", "lrp", "kernel_shap"),
    ("image", "black-box"): ("kernel_shap", "lime", "feature_ablation"),
    ("text", "black-box"): ("kernel_shap", "lime", "feature_ablation"),
    ("sequence", "gradients"): ("integrated_gradients", "saliency", "kernel_shap"),
    ("sequence", "black-box"): ("kernel_shap", "lime", "feature_ablation"),
}
DEFAULT_BUDGET = {"tabular": 500, "image": 200, "text": 300, "sequence": 300}  # model calls per case and method
STOCHASTIC = {"kernel_shap", "lime", "sampling_shapley", "smoothgrad", "gradient_shap", "lemna"}
SUPERPIXELS = 50


@dataclass
class AuditSettings:
    """The choices an audit makes, all recorded in its report.

    `methods`: local attribution methods to compare (None: the defaults for the data's layout and
    the model's access, `DEFAULT_METHODS`); `cases`: how many cases of each kind are explained
    (confident right, confident wrong, borderline); `budget`: model evaluations per case for each
    sampling method (None: `DEFAULT_BUDGET` for the layout), or a time such as "90s" or "5m" that
    `audit` turns into such a number (see `time_budget`); `global_rows`: rows for the mean
    |Shapley| view; `sanity`: run the randomisation sanity checks; `seed`: every random choice.

    >>> AuditSettings(cases=1).resolved_budget("image")
    200
    """

    methods: tuple[str, ...] | None = None
    cases: int = 2
    budget: int | str | None = None
    global_rows: int = 100
    sanity: bool = True
    seed: int = 0

    def __post_init__(self):
        if self.methods is not None:
            self.methods = tuple(self.methods)
        for name in ("cases", "global_rows"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(self.budget, str):
            from .time_budget import parse_duration

            if parse_duration(self.budget) is None:  # digits only: samples
                self.budget = int(self.budget)
        if self.budget is not None and not isinstance(self.budget, str) and (
                isinstance(self.budget, bool) or not isinstance(self.budget, int) or self.budget < 10):
            raise InputError(f"budget must be at least 10 model evaluations per case, or a time such as 90s; got {self.budget!r}")

    def resolved_budget(self, layout: str) -> int:
        if isinstance(self.budget, str):
            raise InputError("a time budget is turned into samples by audit(); call it through audit()")
        return self.budget if self.budget is not None else DEFAULT_BUDGET[layout]

    def as_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def access_of(subject: Subject) -> str:
    return "black-box" if subject.black_box else "gradients"


def categorical_columns(subject: Subject) -> list[str]:
    return [name for name in (subject.data.categories or {})]


def chosen_methods(subject: Subject, settings: AuditSettings) -> tuple[list[str], list[str]]:
    """The local methods to run, and notes on methods left out and why.

    Asked-for methods are checked: unknown names and methods that are not local attributions are
    errors; gradient methods on a black box are left out with a note (the report says so)."""
    notes = []
    access = "black-box" if categorical_columns(subject) else access_of(subject)  # no gradients through codes
    wanted = settings.methods or DEFAULT_METHODS[(subject.layout, access)]
    chosen = []
    for name in wanted:
        info = get_method(name).info  # unknown names: a clear error with suggestions
        if info.format is not Format.ATTRIBUTION or info.scope is Scope.GLOBAL:
            raise InputError(f"{name} is not a local attribution method; the audit compares local attributions of cases")
        needs_gradients = info.access in (Access.GRADIENTS, Access.INTERNALS)
        if needs_gradients and subject.black_box:
            notes.append(f"{name} left out: it needs gradients and the model is a black box ({model_kind(subject)})")
        elif needs_gradients and categorical_columns(subject):
            notes.append(f"{name} left out: gradients through the category codes of "
                         f"{', '.join(categorical_columns(subject))} mean nothing")
        elif name in ("grad_cam", "cam", "grad_cam_pp", "guided_grad_cam") and subject.cam_layer is None:
            notes.append(f"{name} left out: the model has no convolutional layer")
        else:
            chosen.append(name)
    if not chosen:
        raise InputError("none of the asked-for methods can run on this model: " + "; ".join(notes))
    return chosen, notes


def model_kind(subject: Subject) -> str:
    fmt = subject.source.get("format")
    return f"{fmt} file" if fmt not in (None, "zoo", "import-path") else type(subject.model).__name__


def method_settings(name: str, subject: Subject, settings: AuditSettings) -> dict[str, Any]:
    """Settings for `name` on `subject`: the shared zoo defaults, then the audit's masker and budget."""
    from ..gallery import NotApplicable, gallery_settings

    try:
        chosen = gallery_settings(name, subject)
    except NotApplicable as error:
        raise UnboxedError(str(error)) from None
    budget = settings.resolved_budget(subject.layout)
    explainer = get_method(name)
    takes = set(_parameters(explainer))
    if "masker" in takes and subject.layout == "image":
        chosen["masker"] = ImageMasker(segmentation="slic", n_segments=SUPERPIXELS)
    if "masker" in takes and subject.layout == "tabular" and subject.background is not None:
        chosen["masker"] = TabularMasker(subject.background, feature_names=subject.feature_names)
        chosen.pop("background", None)
    if name in ("kernel_shap", "lime", "lemna"):
        chosen["n_samples"] = budget
    if name == "sampling_shapley":
        chosen["n_permutations"] = max(2, budget // max(2 * n_features_hint(subject), 1))
    if name == "integrated_gradients":
        chosen["n_steps"] = 32
    if name in ("smoothgrad", "gradient_shap"):
        chosen["n_samples"] = 16
    if name == "lime" and subject.layout == "image":
        chosen["coalitions"] = "bernoulli"
    if "seed" in takes:
        chosen["seed"] = settings.seed
    return {key: value for key, value in chosen.items() if key in takes}


def n_features_hint(subject: Subject) -> int:
    if subject.layout == "tabular":
        return int(subject.inputs.shape[1])
    return SUPERPIXELS


def _parameters(explainer_class) -> list[str]:
    import inspect

    return [p for p in inspect.signature(explainer_class.__init__).parameters if p not in ("self", "model")]
