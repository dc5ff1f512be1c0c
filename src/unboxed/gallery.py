"""The gallery: every registered attribution method on every zoo model, as pictures, raw files and a web page.

`build_gallery(out_dir)` writes, under `out_dir`:

- `<model>/grid.png`: rows are inputs, columns are the input and then each method;
- `<model>/<method>.npz`: the raw Attribution (`unboxed.load` reads it back);
- `index.html`: one self-contained page (inline CSS, pictures linked relatively) with each
  method's taxonomy tags, settings, time, the completeness gap where the method has one, and
  the methods that were skipped on a model with the reason.

`gallery_settings(method, zoo_model)` is the one place that decides how a method is run on a
zoo model (the CLI's `explain` uses it too): per-model settings that keep the demo fast, and the
layer for methods that need one.
"""
from __future__ import annotations

import html
import inspect
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from .errors import InputError, UnboxedError
from .explanation import Attribution
from .taxonomy import Format, MethodInfo, get_method, methods as catalogue

MODELS = ("efficientnet_lite0", "digits_cnn", "breast_cancer_mlp")
SAMPLES = {"efficientnet_lite0": 4, "digits_cnn": 4, "breast_cancer_mlp": 4}

# Columns of the pictures: related methods side by side; methods not named here follow, by name.
ORDER = (
    "saliency", "input_x_gradient", "smoothgrad", "integrated_gradients", "guided_backprop", "deconvnet",
    "cam", "grad_cam", "grad_cam_pp", "guided_grad_cam", "occlusion",
)

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
}


class NotApplicable(UnboxedError):
    """A method that cannot run on a model (e.g. a class activation map on a model without conv layers)."""


def gallery_settings(method_name: str, zoo_model) -> dict[str, Any]:
    """The settings to run `method_name` with on `zoo_model` (a `ZooModel`).

    Per-model entries of `SETTINGS`, plus `layer=zoo_model.cam_layer` for methods whose
    constructor takes a `layer`. Settings the method's constructor does not take are dropped.
    Raises `NotApplicable` (with the reason) when the method needs a layer the model lacks.

    >>> from unboxed import zoo
    >>> gallery_settings("occlusion", zoo.load("breast_cancer_mlp"))
    {'window': (1,), 'stride': (1,)}
    """
    explainer = get_method(method_name)
    parameters = inspect.signature(explainer.__init__).parameters
    table = SETTINGS.get(method_name, {})
    settings = {**table.get("*", {}), **table.get(zoo_model.name, {})}
    if "layer" in parameters:
        if zoo_model.cam_layer is None:
            raise NotApplicable(f"{method_name} needs a convolutional layer; {zoo_model.name} has none")
        settings["layer"] = zoo_model.cam_layer
    if "background" in parameters and zoo_model.layout == "tabular":
        settings["background"] = zoo_model.inputs[:50]  # features are removed by drawing from these rows
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    return {key: value for key, value in settings.items() if takes_any or key in parameters}


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


def sample_labels(zoo_model, rows: Sequence[int], inputs: torch.Tensor) -> list[str]:
    """A line or two per sample: its name or row, the true class if known, and the prediction."""
    with torch.no_grad():
        probabilities = torch.softmax(zoo_model.model(inputs), dim=1)
    confidence, predicted = probabilities.max(dim=1)
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


@dataclass
class Gallery:
    """Where the gallery was written and what ran: `entries` per (model, method); `pictures` per model."""

    index: Path
    entries: list[Entry]
    pictures: dict[str, Path]
    seconds: float

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
                  n_samples: int | Mapping[str, int] | None = None, show_progress: bool = True) -> Gallery:
    """Run every registered attribution method on the zoo models and write the gallery to `out_dir`.

    `models`: zoo model names; `methods`: method names (default: every registered attribution
    method); `n_samples`: inputs per model, one number or a per-model mapping (default
    `SAMPLES`); `show_progress`: a progress bar on stderr and the written paths on stdout.
    Methods that cannot run on a model are listed as skipped with the reason; methods that
    crash are listed as failed (with the error) and the rest still run.
    """
    from tqdm.auto import tqdm

    from . import zoo
    from .viz import figure_to_png, plot_grid

    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in models:
        if name not in zoo.MODELS:
            raise InputError(f"unknown zoo model {name!r}; choose from {', '.join(zoo.MODELS)}")
    infos = attribution_methods(methods)
    entries: list[Entry] = []
    pictures: dict[str, Path] = {}
    facts: dict[str, dict] = {}
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
        inputs = zoo_model.inputs[rows]
        facts[model_name] = {"samples": sample_labels(zoo_model, rows, inputs), **_model_facts(zoo_model)}
        results: dict[str, Attribution] = {}
        for info in infos:
            bar.set_postfix_str(f"{model_name}: {info.name}")
            entry, attribution = _run(zoo_model, info, inputs, out_dir / model_name)
            entries.append(entry)
            if attribution is not None:
                results[info.name] = attribution
            elif show_progress and entry.status == "failed":
                bar.write(f"warning: {info.name} failed on {model_name}: {entry.reason}")
            bar.update(1)
        if results:
            images = zoo_model.display(inputs) if zoo_model.display is not None else None
            times = {e.method: _duration(e.seconds) for e in entries if e.model == model_name and e.status == "ok"}
            large = images is not None and max(np.shape(images)[1:3]) > 64
            figure = plot_grid(results, images=images, row_labels=facts[model_name]["samples"], column_labels=times,
                               title=f"{model_name}: attributions for the predicted class", cell_size=2.4 if large else 2.0)
            pictures[model_name] = figure_to_png(figure, out_dir / model_name / "grid.png", dpi=100 if large else 90)
            if show_progress:
                bar.write(f"wrote {pictures[model_name]}")
    bar.close()
    seconds = time.perf_counter() - started
    index = out_dir / "index.html"
    index.write_text(_page(entries, pictures, facts, out_dir, seconds), encoding="utf-8")
    if show_progress:
        print(f"gallery written to {index} ({seconds:.0f} s)")
    return Gallery(index=index, entries=entries, pictures=pictures, seconds=seconds)


def _load(model_name: str, count: int):
    from . import zoo
    from .zoo.imagenet import PHOTOS

    if model_name == "efficientnet_lite0":
        return zoo.load(model_name, photos=PHOTOS[: max(1, min(count, len(PHOTOS)))])
    return zoo.load(model_name)


def _run(zoo_model, info: MethodInfo, inputs: torch.Tensor, folder: Path) -> tuple[Entry, Attribution | None]:
    entry = Entry(zoo_model.name, info.name, "ok", info)
    try:
        entry.settings = gallery_settings(info.name, zoo_model)
        explainer = get_method(info.name)(zoo_model.model, **entry.settings)
        start = time.perf_counter()
        attribution = explainer.explain(inputs, feature_names=zoo_model.feature_names)
        entry.seconds = time.perf_counter() - start
    except UnboxedError as error:
        entry.status, entry.reason = "skipped", str(error)
        return entry, None
    except Exception as error:  # a broken method must not take the whole gallery down; it is reported
        entry.status, entry.reason = "failed", f"{type(error).__name__}: {error}"
        return entry, None
    entry.path = attribution.save(folder / f"{info.name}.npz")
    if attribution.delta is not None:
        entry.max_delta = float(np.max(np.abs(attribution.delta)))
    if attribution.scores is not None:
        entry.max_score = float(np.max(np.abs(attribution.scores)))
    return entry, attribution


def _model_facts(zoo_model) -> dict[str, str]:
    facts = {"input shape": str(tuple(zoo_model.inputs.shape[1:])), "layout": zoo_model.layout}
    for key in ("test_accuracy", "source"):
        if key in zoo_model.facts:
            value = zoo_model.facts[key]
            facts[key.replace("_", " ")] = f"{value:.3f}" if isinstance(value, float) else str(value)
    return facts


def _duration(seconds: float) -> str:
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


def _page(entries: list[Entry], pictures: dict[str, Path], facts: dict[str, dict], out_dir: Path, seconds: float) -> str:
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
        "Raw results are <code>.npz</code> files that <code>unboxed.load()</code> reads back.</p>",
    ]
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
        parts.append(_table(model_entries, out_dir))
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
        settings = ", ".join(f"{k}={v!r}" for k, v in e.settings.items()) or "defaults"
        gap = "—"
        if e.max_delta is not None:
            gap = f"{e.max_delta:.3g}" + (f" <span class='muted'>(max |score| {e.max_score:.3g})</span>" if e.max_score else "")
        link = html.escape(e.path.relative_to(out_dir).as_posix())
        rows.append(
            f"<tr><td><b>{name}</b>{reference}</td><td>{tags}{summary}</td><td><code>{html.escape(settings)}</code></td>"
            f"<td class='num'>{_duration(e.seconds)}</td><td class='num'>{gap}</td>"
            f"<td><a href='{link}'>{html.escape(Path(link).name)}</a></td></tr>"
        )
    rows.append("</table>")
    return "\n".join(rows)


def _tags(info: MethodInfo) -> str:
    values = info.as_dict()
    return "".join(
        f"<span class='tag {axis}-{html.escape(values[axis])}' title='{axis}'>{html.escape(values[axis])}</span>"
        for axis in ("engagement", "format", "scope", "access")
    )
