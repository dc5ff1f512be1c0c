"""Running every attribution method on the zoo models and writing the pictures, files and page."""
from __future__ import annotations

import html
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..errors import InputError, UnboxedError
from ..explanation import Attribution, Explanation
from ..maskers import TabularMasker
from ..taxonomy import Format, MethodInfo, Scope, get_method, methods as catalogue
from .page import format_duration, page
from .samples import pick_samples, sample_labels, take
from .settings import gallery_settings

MODELS = ("efficientnet_lite0", "digits_cnn", "breast_cancer_mlp", "rotten_tomatoes_logreg")
SAMPLES = {"efficientnet_lite0": 4, "digits_cnn": 4, "breast_cancer_mlp": 4, "rotten_tomatoes_logreg": 4}
# Columns of the pictures: related methods side by side; methods not named here follow, by name.
ORDER = (
    "saliency", "input_x_gradient", "smoothgrad", "integrated_gradients", "gradient_shap", "guided_backprop", "deconvnet",
    "cam", "grad_cam", "grad_cam_pp", "guided_grad_cam", "lrp", "deeplift", "deeplift_shap", "occlusion", "feature_ablation", "exact_shapley", "kernel_shap",
    "sampling_shapley", "lime", "lemna",
)
# Per-feature methods whose one-row waterfall and many-row summary the gallery draws for tables (first that ran).
SUMMARY_METHODS = ("exact_shapley", "kernel_shap", "sampling_shapley", "feature_ablation")
SUMMARY_ROWS = 60


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

    from .. import zoo

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
    index.write_text(page(entries, pictures, figures, highlights, facts, out_dir, seconds, extra), encoding="utf-8")
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
    from .. import zoo
    from ..zoo.imagenet import PHOTOS

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
    from ..viz import figure_to_png, plot_grid

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

    from ..viz import figure_to_png, plot_beeswarm, plot_importance, plot_waterfall

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
    from ..viz import text_html

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
