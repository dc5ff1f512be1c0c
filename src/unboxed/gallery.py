"""The gallery: every registered attribution method on every zoo model, as pictures, raw files and a web page.

`build_gallery(out_dir)` writes, under `out_dir`:

- `<model>/grid.png`: rows are inputs, columns are the input and then each method (images:
  heat maps, with superpixel outlines for per-feature methods; tables: bar charts; texts:
  highlighted words);
- `<model>/<method>.npz`: the raw explanation (`unboxed.load` reads it back);
- `<model>/<method>.png` for global methods (permutation importance) over the held-out set, and
  for tables `waterfall.png` (one row) and `summary.png` (a beeswarm over many rows) of the
  first Shapley method that ran;
- `index.html`: one self-contained page (inline CSS, pictures linked relatively) with each
  method's taxonomy tags, settings, time, the completeness gap where the method has one, and
  the methods that were skipped on a model with the reason;
- whatever extra `sections` write (e.g. the watermark diagnosis case under `watermark/`),
  each linked from the top of the page.

`gallery_settings(method, zoo_model)` is the one place that decides how a method is run on a
zoo model (the CLI's `explain` uses it too): per-model settings that keep the demo fast, the
layer for methods that need one, and the model's background rows for methods that remove features.
"""
from __future__ import annotations

import html
import inspect
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from .errors import InputError, UnboxedError
from .explanation import Attribution, Explanation
from .maskers import ImageMasker, Masker, TabularMasker
from .model import adapt
from .taxonomy import Access, Format, MethodInfo, Scope, get_method, methods as catalogue

MODELS = ("efficientnet_lite0", "digits_cnn", "breast_cancer_mlp", "rotten_tomatoes_logreg")
SAMPLES = {"efficientnet_lite0": 4, "digits_cnn": 4, "breast_cancer_mlp": 4, "rotten_tomatoes_logreg": 4}
IMAGE_MODELS = ("digits_cnn", "efficientnet_lite0")

# Columns of the pictures: related methods side by side; methods not named here follow, by name.
ORDER = (
    "saliency", "input_x_gradient", "smoothgrad", "integrated_gradients", "gradient_shap", "guided_backprop", "deconvnet",
    "cam", "grad_cam", "grad_cam_pp", "guided_grad_cam", "lrp", "deeplift", "deeplift_shap", "occlusion", "feature_ablation", "exact_shapley", "kernel_shap",
    "sampling_shapley", "lime", "lemna",
)
# Per-feature methods whose one-row waterfall and many-row summary the gallery draws for tables (first that ran).
SUMMARY_METHODS = ("exact_shapley", "kernel_shap", "sampling_shapley", "feature_ablation")
SUMMARY_ROWS = 60


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


def pick_samples(zoo_model, n: int) -> list[int]:
    """`n` held-out samples, taking classes in turn (first of each class, then second, ...) when labels are known."""
    total = len(zoo_model.inputs)
    n = min(int(n), total)
    if zoo_model.labels is None:
        return list(range(n))
    labels = np.asarray(zoo_model.labels)
    queues = [list(np.flatnonzero(labels == c)) for c in dict.fromkeys(labels.tolist())]
    chosen: list[int] = []
    while len(chosen) < n:
        for queue in queues:
            if queue and len(chosen) < n:
                chosen.append(int(queue.pop(0)))
    return chosen


def take(inputs, rows: Sequence[int]):
    """Rows of a zoo model's inputs: a tensor indexed, or a list of texts picked.

    >>> take(["a", "b", "c"], [2, 0]), take(torch.arange(3), [2, 0]).tolist()
    (['c', 'a'], [2, 0])
    """
    return inputs[list(rows)] if isinstance(inputs, torch.Tensor) else [inputs[i] for i in rows]


def probabilities(zoo_model, inputs) -> torch.Tensor:
    """The model's class probabilities: its outputs when they are probabilities (scikit-learn's
    predict_proba), else their softmax (logits of torch models).

    >>> from unboxed import zoo
    >>> round(probabilities(zoo.load("breast_cancer_mlp"), torch.zeros(1, 30)).sum().item(), 6)
    1.0
    """
    adapter = adapt(zoo_model.model)
    batch = adapter.check_inputs(inputs) if isinstance(inputs, torch.Tensor) else np.asarray(inputs, dtype=str)
    outputs = adapter.outputs(batch).detach().cpu().double()
    if bool(outputs.min() >= 0) and torch.allclose(outputs.sum(1), torch.ones(len(outputs), dtype=outputs.dtype), atol=1e-6):
        return outputs
    return torch.softmax(outputs, dim=1)


def sample_labels(zoo_model, rows: Sequence[int], inputs) -> list[str]:
    """A line or two per sample: its name or row, the true class if known, and the prediction."""
    confidence, predicted = probabilities(zoo_model, inputs).max(dim=1)
    names = zoo_model.class_names
    labels = []
    for i, row in enumerate(rows):
        name = zoo_model.sample_names[row] if zoo_model.sample_names else f"#{row}"
        truth = f", true {names[int(zoo_model.labels[row])]}" if zoo_model.labels is not None else ""
        pred = _short(names[int(predicted[i])])
        labels.append(f"{name}{truth}\npredicted {pred} ({float(confidence[i]):.0%})")
    return labels


@dataclass
class Entry:
    """What happened to one method on one model."""

    model: str
    method: str
    status: str  # "ok", "skipped" or "failed"
    info: MethodInfo | None = None
    settings: dict = field(default_factory=dict)
    seconds: float | None = None
    reason: str = ""
    path: Path | None = None
    max_delta: float | None = None
    max_score: float | None = None


@dataclass(frozen=True)
class Section:
    """An extra part of the gallery page: `write(out_dir)` writes its files under `out_dir` and
    returns its HTML (links relative to `out_dir`, a heading with id `anchor`); the top of the
    page links to it as `title`."""

    anchor: str
    title: str
    write: Callable[[Path], str]


@dataclass
class Gallery:
    """Where the gallery was written and what ran: `entries` per (model, method); `pictures` the
    grid per model; `figures` the other pictures per model, as (caption, path); `failed_sections`
    the extra sections that crashed, with the error."""

    index: Path
    entries: list[Entry]
    pictures: dict[str, Path]
    seconds: float
    figures: dict[str, list[tuple[str, Path]]] = field(default_factory=dict)
    failed_sections: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[Entry]:
        return [e for e in self.entries if e.status == "failed"]

    @property
    def skipped(self) -> list[Entry]:
        return [e for e in self.entries if e.status == "skipped"]


def attribution_methods(names: Sequence[str] | None = None) -> list[MethodInfo]:
    """The registered attribution methods, or the named ones (checked to be attribution methods)."""
    available = {info.name: info for info in catalogue(format=Format.ATTRIBUTION)}
    if names is None:
        rank = {name: i for i, name in enumerate(ORDER)}
        return sorted(available.values(), key=lambda info: (rank.get(info.name, len(ORDER)), info.name))
    chosen = []
    for name in names:
        get_method(name)  # unknown names: a clear error with suggestions
        if name not in available:
            raise InputError(f"{name!r} is not an attribution method; the gallery shows attributions only")
        chosen.append(available[name])
    return chosen


def build_gallery(out_dir: str | Path = "reports", models: Sequence[str] = MODELS, methods: Sequence[str] | None = None,
                  n_samples: int | Mapping[str, int] | None = None, show_progress: bool = True,
                  sections: Sequence[Section] = ()) -> Gallery:
    """Run every registered attribution method on the zoo models and write the gallery to `out_dir`.

    `models`: zoo model names; `methods`: method names (default: every registered attribution
    method); `n_samples`: inputs per model, one number or a per-model mapping (default
    `SAMPLES`); `show_progress`: a progress bar on stderr and the written paths on stdout.
    Local methods explain the same few inputs (the grid); global methods (permutation
    importance) run on all held-out data with its labels and get a picture of their own.
    Methods that cannot run on a model are listed as skipped with the reason; methods that
    crash are listed as failed (with the error) and the rest still run. `sections` (`Section`)
    are written after the models and shown at the end of the page (a crash is reported there).
    """
    from tqdm.auto import tqdm

    from . import zoo

    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in models:
        if name not in zoo.MODELS:
            raise InputError(f"unknown zoo model {name!r}; choose from {', '.join(zoo.MODELS)}")
    infos = attribution_methods(methods)
    entries: list[Entry] = []
    pictures: dict[str, Path] = {}
    figures: dict[str, list[tuple[str, Path]]] = {}
    facts: dict[str, dict] = {}
    highlights: dict[str, dict[str, list[str]]] = {}
    bar = tqdm(total=len(models) * len(infos), desc="gallery", unit="run", disable=not show_progress)
    for model_name in models:
        count = n_samples.get(model_name, SAMPLES.get(model_name, 4)) if isinstance(n_samples, Mapping) else n_samples
        count = int(count if count is not None else SAMPLES.get(model_name, 4))
        bar.set_postfix_str(f"{model_name}: loading")
        try:
            zoo_model = _load(model_name, count)
        except UnboxedError as error:
            entries += [Entry(model_name, info.name, "skipped", info, reason=f"model not available: {error}") for info in infos]
            bar.update(len(infos))
            continue
        rows = pick_samples(zoo_model, count)
        inputs = take(zoo_model.inputs, rows)
        facts[model_name] = {"samples": sample_labels(zoo_model, rows, inputs), **_model_facts(zoo_model)}
        results: dict[str, Explanation] = {}
        for info in infos:
            bar.set_postfix_str(f"{model_name}: {info.name}")
            entry, result = _run(zoo_model, info, inputs, out_dir / model_name)
            entries.append(entry)
            if result is not None:
                results[info.name] = result
            elif show_progress and entry.status == "failed":
                bar.write(f"warning: {info.name} failed on {model_name}: {entry.reason}")
            bar.update(1)
        model_entries = [e for e in entries if e.model == model_name]
        grid = _draw_grid(zoo_model, inputs, results, model_entries, facts[model_name]["samples"], out_dir)
        if grid is not None:
            pictures[model_name] = grid
        bar.set_postfix_str(f"{model_name}: pictures")
        figures[model_name] = _draw_extras(zoo_model, results, model_entries, out_dir)
        if show_progress:
            for path in [grid, *(path for _, path in figures[model_name])]:
                if path is not None:
                    bar.write(f"wrote {path}")
        highlights[model_name] = _highlighted(results)
    bar.close()
    extra, failed_sections = _write_sections(sections, out_dir)
    seconds = time.perf_counter() - started
    index = out_dir / "index.html"
    index.write_text(_page(entries, pictures, figures, highlights, facts, out_dir, seconds, extra), encoding="utf-8")
    if show_progress:
        print(f"gallery written to {index} ({seconds:.0f} s)")
    return Gallery(index=index, entries=entries, pictures=pictures, seconds=seconds, figures=figures,
                   failed_sections=failed_sections)


def _write_sections(sections: Sequence[Section], out_dir: Path) -> tuple[list[tuple[Section, str]], list[str]]:
    """Each section's HTML (or a note that it failed), and the failures."""
    written, failed = [], []
    for section in sections:
        try:
            written.append((section, section.write(out_dir)))
        except Exception as error:  # a broken section must not lose the gallery; it is reported
            reason = f"{type(error).__name__}: {error}"
            failed.append(f"{section.title}: {reason}")
            written.append((section, f"<h2 id='{html.escape(section.anchor)}'>{html.escape(section.title)}</h2>"
                                     f"<p class='failed'>failed: {html.escape(reason)}</p>"))
    return written, failed


def _load(model_name: str, count: int):
    from . import zoo
    from .zoo.imagenet import PHOTOS

    if model_name == "efficientnet_lite0":
        return zoo.load(model_name, photos=PHOTOS[: max(1, min(count, len(PHOTOS)))])
    return zoo.load(model_name)


def explain_zoo(zoo_model, info: MethodInfo, settings: dict[str, Any], inputs, target=None) -> Explanation:
    """Run one method on a zoo model: local methods on `inputs`, global ones on all held-out data with its labels."""
    explainer = get_method(info.name)(zoo_model.model, **settings)
    names = zoo_model.feature_names
    if isinstance(settings.get("masker"), TabularMasker) and settings["masker"].groups is not None:
        names = None  # the masker names its groups of columns
    if info.scope is Scope.GLOBAL:
        return explainer.explain(zoo_model.inputs, labels=zoo_model.labels, target=target, feature_names=names)
    return explainer.explain(inputs, target=target, feature_names=names)


def _run(zoo_model, info: MethodInfo, inputs, folder: Path) -> tuple[Entry, Explanation | None]:
    entry = Entry(zoo_model.name, info.name, "ok", info)
    try:
        entry.settings = gallery_settings(info.name, zoo_model)
        start = time.perf_counter()
        result = explain_zoo(zoo_model, info, entry.settings, inputs)
        entry.seconds = time.perf_counter() - start
    except UnboxedError as error:
        entry.status, entry.reason = "skipped", str(error)
        return entry, None
    except Exception as error:  # a broken method must not take the whole gallery down; it is reported
        entry.status, entry.reason = "failed", f"{type(error).__name__}: {error}"
        return entry, None
    entry.path = result.save(folder / f"{info.name}.npz")
    entry.max_delta = completeness_gap(result)
    if isinstance(result, Attribution) and result.scores is not None:
        entry.max_score = float(np.max(np.abs(result.scores)))
    return entry, result


def completeness_gap(result: Explanation) -> float | None:
    """max |base + sum(values) - f(x)| over the samples: the method's own `delta`, or for
    per-feature attributions with a base value the gap of efficiency (0 for Shapley values).

    >>> from unboxed.explanation import FeatureAttribution
    >>> completeness_gap(FeatureAttribution(values=np.array([[1.0, 2.0]]), inputs=np.zeros((1, 2)),
    ...                                     base=np.array([0.5]), scores=np.array([4.0])))
    0.5
    """
    if not isinstance(result, Attribution):
        return None
    if result.delta is not None:
        return float(np.max(np.abs(result.delta)))
    if hasattr(result, "names_of") and result.base is not None and result.scores is not None:
        return float(np.max(np.abs(result.base + result.values.sum(1) - result.scores)))
    return None


def _draw_grid(zoo_model, inputs, results: dict[str, Explanation], entries: list[Entry], labels: list[str],
               out_dir: Path) -> Path | None:
    from .viz import figure_to_png, plot_grid

    local = {name: result for name, result in results.items() if isinstance(result, Attribution)}
    if not local:
        return None
    images = zoo_model.display(inputs) if zoo_model.display is not None else None
    times = {e.method: format_duration(e.seconds) for e in entries if e.status == "ok"}
    large = images is not None and max(np.shape(images)[1:3]) > 64
    figure = plot_grid(local, images=images, row_labels=labels, column_labels=times,
                       title=f"{zoo_model.name}: attributions for the predicted class", cell_size=2.4 if large else 2.0)
    return figure_to_png(figure, out_dir / zoo_model.name / "grid.png", dpi=100 if large else 90)


def _draw_extras(zoo_model, results: dict[str, Explanation], entries: list[Entry], out_dir: Path) -> list[tuple[str, Path]]:
    """Global methods' pictures; for tables, the waterfall of one row and a beeswarm over many rows."""
    from matplotlib.figure import Figure

    from .viz import figure_to_png, plot_beeswarm, plot_importance, plot_waterfall

    drawn = []
    folder = out_dir / zoo_model.name
    for name, result in results.items():
        if not isinstance(result, Attribution) and hasattr(result, "importances"):
            shown = min(15, len(result.importances))
            figure = Figure(figsize=(7.5, 1.2 + 0.28 * shown), layout="constrained")
            plot_importance(result, ax=figure.subplots(), top_k=shown, title=f"{zoo_model.name}: {name} (global)")
            drawn.append((f"{name}: global importance over the held-out data", figure_to_png(figure, folder / f"{name}.png")))
    method = next((m for m in SUMMARY_METHODS if m in results and getattr(results[m], "layout", "") == "tabular"), None)
    if method is None:
        return drawn
    row = results[method]
    figure = Figure(figsize=(7.5, 3.6), layout="constrained")
    plot_waterfall(row, 0, ax=figure.subplots(), title=f"{method}: sample 0, from the base value to f(x)")
    drawn.append((f"{method}: waterfall of the first sample", figure_to_png(figure, folder / "waterfall.png")))
    entry = next(e for e in entries if e.method == method)
    info = next(i for i in catalogue() if i.name == method)
    try:
        many = explain_zoo(zoo_model, info, entry.settings, zoo_model.inputs[:SUMMARY_ROWS])
    except UnboxedError:
        return drawn
    figure = Figure(figsize=(7.5, 4.2), layout="constrained")
    plot_beeswarm(many, ax=figure.subplots(), title=f"{method} on {len(many)} held-out rows")
    drawn.append((f"{method}: summary over {len(many)} held-out rows", figure_to_png(figure, folder / "summary.png")))
    return drawn


def _highlighted(results: dict[str, Explanation]) -> dict[str, list[str]]:
    """HTML highlighted texts per method (text models only)."""
    from .viz import text_html

    return {name: [text_html(result, row, title=f"#{row}") for row in range(len(result))]
            for name, result in results.items()
            if isinstance(result, Attribution) and result.layout == "text" and hasattr(result, "names_of")}


def _model_facts(zoo_model) -> dict[str, str]:
    inputs = zoo_model.inputs
    shown = str(tuple(inputs.shape[1:])) if hasattr(inputs, "shape") else f"texts ({len(inputs)} held out)"
    facts = {"input shape": shown, "layout": zoo_model.layout}
    for key in ("test_accuracy", "source"):
        if key in zoo_model.facts:
            value = zoo_model.facts[key]
            facts[key.replace("_", " ")] = f"{value:.3f}" if isinstance(value, float) else str(value)
    return facts


def format_duration(seconds: float) -> str:
    """Milliseconds below a second, else seconds with one decimal.

    >>> format_duration(0.0123), format_duration(4.56)
    ('12 ms', '4.6 s')
    """
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def _short(text: str, width: int = 22) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# --- the page ---------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1400px;padding:0 1rem;color:#222}
h1{margin-bottom:.2rem} h2{margin-top:2.5rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}
.muted{color:#666;font-size:.9rem}
figure{margin:1rem 0;overflow-x:auto} figure img{max-width:100%;height:auto;border:1px solid #eee}
table{border-collapse:collapse;font-size:.88rem;margin:.5rem 0 1rem}
th,td{border-bottom:1px solid #eee;padding:.35rem .6rem;text-align:left;vertical-align:top}
th{background:#f6f6f6} td.num{text-align:right;font-variant-numeric:tabular-nums}
.tag{display:inline-block;border-radius:.6rem;padding:0 .45rem;margin:0 .15rem .1rem 0;font-size:.75rem;background:#eef;color:#335}
.tag.access-black-box{background:#e8f5e9;color:#1b5e20} .tag.access-gradients{background:#fff3e0;color:#8a4b00}
.tag.access-internals{background:#fce4ec;color:#880e4f}
.skipped{color:#777} .failed{color:#b00020} code{font-size:.8rem}
"""


def _page(entries: list[Entry], pictures: dict[str, Path], figures: dict[str, list[tuple[str, Path]]],
          highlights: dict[str, dict[str, list[str]]], facts: dict[str, dict], out_dir: Path, seconds: float,
          sections: Sequence[tuple[Section, str]] = ()) -> str:
    from . import __version__

    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>unboxed gallery</title><style>{_CSS}</style></head><body>",
        "<h1>unboxed: attribution gallery</h1>",
        f"<p class='muted'>Every registered attribution method on each zoo model, explaining the predicted class. "
        f"unboxed {html.escape(__version__)}, torch {html.escape(torch.__version__)}; built in {seconds:.0f} s. "
        "Each heat map has its own symmetric colour scale: blue = evidence against the class, red = evidence for it, "
        "transparent = none; methods that only give magnitudes (≥ 0) use a sequential scale (bright = most relevant). "
        "Per-feature methods (ablation, Shapley values, LIME) remove superpixels, table columns or words; their maps "
        "show the superpixels' outlines. Global methods (permutation importance) explain the model over all held-out data. "
        "Raw results are <code>.npz</code> files that <code>unboxed.load()</code> reads back.</p>",
    ]
    if sections:
        links = " · ".join(f"<a href='#{html.escape(s.anchor)}'>{html.escape(s.title)}</a>" for s, _ in sections)
        parts.append(f"<p>Also on this page: {links}</p>")
    for model in dict.fromkeys(e.model for e in entries):
        model_entries = [e for e in entries if e.model == model]
        parts.append(f"<h2 id='{html.escape(model)}'>{html.escape(model)}</h2>")
        model_facts = {k: v for k, v in facts.get(model, {}).items() if k != "samples"}
        if model_facts:
            described = "; ".join(f"{html.escape(k)}: {html.escape(v)}" for k, v in model_facts.items())
            parts.append(f"<p class='muted'>{described}</p>")
        if model in pictures:
            link = html.escape(pictures[model].relative_to(out_dir).as_posix())
            parts.append(f"<figure><a href='{link}'><img src='{link}' alt='{html.escape(model)} attribution grid'></a></figure>")
        if highlights.get(model):
            parts.append(_highlight_table(highlights[model]))
        for caption, path in figures.get(model, []):
            link = html.escape(path.relative_to(out_dir).as_posix())
            parts.append(f"<figure><a href='{link}'><img src='{link}' alt='{html.escape(caption)}'></a>"
                         f"<figcaption class='muted'>{html.escape(caption)}</figcaption></figure>")
        parts.append(_table(model_entries, out_dir))
    parts += [section_html for _, section_html in sections]
    parts.append("</body></html>")
    return "\n".join(parts)


def _table(entries: list[Entry], out_dir: Path) -> str:
    rows = [
        "<table><tr><th>method</th><th>taxonomy</th><th>settings</th><th>time</th>"
        "<th title='max over samples of |sum of attributions - (f(x) - f(baseline))|'>completeness gap</th><th>result</th></tr>"
    ]
    for e in entries:
        name = html.escape(e.method)
        reference = f"<br><span class='muted'>{html.escape(e.info.reference)}</span>" if e.info and e.info.reference else ""
        tags = _tags(e.info) if e.info else ""
        summary = f"<br><span class='muted'>{html.escape(e.info.summary)}</span>" if e.info else ""
        if e.status != "ok":
            rows.append(
                f"<tr class='{e.status}'><td><b>{name}</b>{reference}</td><td>{tags}{summary}</td>"
                f"<td colspan='4'>{e.status}: {html.escape(e.reason)}</td></tr>"
            )
            continue
        settings = ", ".join(f"{k}={describe_setting(v)}" for k, v in e.settings.items()) or "defaults"
        gap = "—"
        if e.max_delta is not None:
            gap = f"{e.max_delta:.3g}" + (f" <span class='muted'>(max |score| {e.max_score:.3g})</span>" if e.max_score else "")
        link = html.escape(e.path.relative_to(out_dir).as_posix())
        rows.append(
            f"<tr><td><b>{name}</b>{reference}</td><td>{tags}{summary}</td><td><code>{html.escape(settings)}</code></td>"
            f"<td class='num'>{format_duration(e.seconds)}</td><td class='num'>{gap}</td>"
            f"<td><a href='{link}'>{html.escape(Path(link).name)}</a></td></tr>"
        )
    rows.append("</table>")
    return "\n".join(rows)


def _highlight_table(highlighted: dict[str, list[str]]) -> str:
    """One row per method: its highlighted texts (snippets made by `text_html`, already escaped)."""
    rows = ["<table><tr><th>method</th><th>words coloured by attribution (red: for the class, blue: against)</th></tr>"]
    rows += [f"<tr><td><b>{html.escape(name)}</b></td><td>{''.join(snippets)}</td></tr>" for name, snippets in highlighted.items()]
    rows.append("</table>")
    return "\n".join(rows)


def _tags(info: MethodInfo) -> str:
    values = info.as_dict()
    return "".join(
        f"<span class='tag {axis}-{html.escape(values[axis])}' title='{axis}'>{html.escape(values[axis])}</span>"
        for axis in ("engagement", "format", "scope", "access")
    )
