"""Compare explanation methods on several metrics at once: a table, a picture, CSV files.

`compare(model, inputs, methods, metrics)` runs every metric on every method's explanations of
the same inputs for the same targets. Each method explains the inputs once; that explanation is
shared by every metric (metrics that perturb the model or the inputs re-run the method besides).
Metrics that need more than the model and the explanation (localisation metrics need `mask=`,
data randomisation `random_model=`) get it from the keywords of `compare`. Asked for by name
without what they need, they are an error before anything runs; when `metrics` is left to its
default, localisation metrics are included only if a mask is given (and `notes` says so).
"""
from __future__ import annotations

import html
import inspect
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from ..explainer import Explainer
from ..model import adapt
from ..taxonomy import Format, Scope
from .base import Metric, MetricResult, get_metric, resolved_indices

DEFAULT_METRICS = ("deletion", "insertion", "faithfulness_correlation", "max_sensitivity", "sparseness")
LOCALISATION_METRICS = ("relevance_mass_accuracy", "relevance_rank_accuracy", "pointing_game")
# `score` parameters every metric gets; any other named parameter is context the caller must give (mask, random_model)
_SCORE_ARGUMENTS = ("self", "model", "inputs", "target", "attributions", "method")
BEST_COLOUR_MAP = "YlGn"  # the rank picture: the best method of every metric in the darkest green, whatever the direction


def arrow(higher_is_better: bool) -> str:
    """The direction of a metric as an arrow: up when higher is better.

    >>> arrow(True), arrow(False)
    ('↑', '↓')
    """
    return "↑" if higher_is_better else "↓"


def required_context(metric: Metric) -> list[str]:
    """The keywords `metric` needs besides the model and the explanation (e.g. ['mask']).

    >>> from unboxed.evaluate import PointingGame, Sparseness
    >>> required_context(PointingGame()), required_context(Sparseness())
    (['mask'], [])
    """
    parameters = inspect.signature(type(metric).score).parameters.values()
    return [p.name for p in parameters if p.name not in _SCORE_ARGUMENTS
            and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]


def build_metric(metric: Any, seed: int) -> Metric:
    """A Metric from a registered name (its defaults, and `seed` where it draws at random) or as given.

    >>> build_metric("faithfulness_correlation", seed=3).seed
    3
    """
    if isinstance(metric, Metric):
        return metric
    if isinstance(metric, str):
        metric_class = get_metric(metric)
        takes_seed = "seed" in inspect.signature(metric_class.__init__).parameters
        return metric_class(seed=seed) if takes_seed else metric_class()
    raise InputError(f"a metric must be a registered name or a Metric; got {type(metric).__name__}")


def build_method(method: Any, model: Any, seed: int) -> Explainer:
    """An Explainer bound to `model` from a registered name, a (name, settings) pair (with `seed`
    where the method takes one and the settings do not set it) or an Explainer, used as given.

    >>> from torch import nn
    >>> build_method(("smoothgrad", {"n_samples": 4}), nn.Linear(3, 2), seed=5).seed
    5
    """
    from ..taxonomy import get_method

    if isinstance(method, Explainer):
        return method
    if isinstance(method, str):
        method = (method, {})
    if not (isinstance(method, tuple) and len(method) == 2 and isinstance(method[0], str) and isinstance(method[1], Mapping)):
        raise InputError(f"a method must be a registered name, a (name, settings) pair or an Explainer; got {method!r}")
    name, settings = method[0], dict(method[1])
    explainer_class = get_method(name)
    if explainer_class.info.format is not Format.ATTRIBUTION or explainer_class.info.scope is Scope.GLOBAL:
        raise InputError(f"{name} is not a local attribution method; metrics score one attribution map per input")
    if "seed" in inspect.signature(explainer_class.__init__).parameters:
        settings.setdefault("seed", seed)
    return explainer_class(model, **settings)


def _unique(labels: list[str], describe: list[str]) -> list[str]:
    """`labels`, with the settings added to repeated ones (and a number if that is not enough)."""
    repeated = {label for label in labels if labels.count(label) > 1}
    named = [f"{label} ({extra})" if label in repeated and extra else label for label, extra in zip(labels, describe)]
    return [f"{label} #{named[:i].count(label) + 1}" if named.count(label) > 1 else label for i, label in enumerate(named)]


def _describe(settings: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in settings.items() if isinstance(v, (int, float, str, bool, type(None))))


@dataclass
class Comparison:
    """Methods scored on metrics: `table` (methods x metrics, each metric's summary), `results`
    (the `MetricResult` of each (method, metric): scores per example, curves, details),
    `higher_is_better` and `category` per metric, `notes` (what was left out and why) and
    `seconds` (time per method: its explanation plus its metrics).

    `scores` lists every example's score; `ranks` ranks the methods per metric (1 = best, with
    the metric's direction); `figure` draws the ranks; `save(folder)` writes CSV files and the PNG.
    """

    table: pd.DataFrame
    results: dict[tuple[str, str], MetricResult]
    higher_is_better: dict[str, bool]
    category: dict[str, str]
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def scores(self) -> pd.DataFrame:
        """One row per (method, metric, example): its score, with the metric's category and direction."""
        rows = [{"method": method, "metric": metric, "category": self.category[metric],
                 "higher_is_better": self.higher_is_better[metric], "example": i, "score": float(score)}
                for (method, metric), result in self.results.items() for i, score in enumerate(result.scores)]
        return pd.DataFrame(rows, columns=["method", "metric", "category", "higher_is_better", "example", "score"])

    @property
    def ranks(self) -> pd.DataFrame:
        """Rank of each method per metric, 1 = best in the metric's direction (ties share the better rank; NaN: no score)."""
        return pd.DataFrame({metric: self.table[metric].rank(ascending=not self.higher_is_better[metric], method="min")
                             for metric in self.table.columns}, index=self.table.index)

    def best(self) -> dict[str, list[str]]:
        """The best method(s) of each metric."""
        ranks = self.ranks
        return {metric: list(ranks.index[ranks[metric] == 1]) for metric in ranks.columns}

    @cached_property
    def figure(self):
        """The metrics (rows, with their direction) x methods (columns) picture: cells coloured by
        the method's rank within the metric (darkest = best) and labelled with the summary value."""
        return plot_comparison(self)

    def to_text(self) -> str:
        """The table as plain text for a terminal: each metric with its arrow, the best value starred."""
        best = self.best()
        header = ["method"] + [f"{metric} {arrow(self.higher_is_better[metric])}" for metric in self.table.columns]
        rows = [[str(method)] + [_cell(self.table.at[method, metric]) + ("*" if method in best[metric] else "")
                                 for metric in self.table.columns] for method in self.table.index]
        widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]
        lines = ["  ".join(text.ljust(width) for text, width in zip(line, widths)).rstrip() for line in [header, *rows]]
        lines.append("↑ higher is better, ↓ lower is better; * best per metric")
        return "\n".join(lines + [f"note: {note}" for note in self.notes])

    def save(self, folder: str | Path, dpi: int = 100) -> dict[str, Path]:
        """Write `comparison.csv` (the table), `scores.csv` (per example, with each metric's
        direction) and `comparison.png` (the figure) into `folder`; returns their paths."""
        from ..viz import figure_to_png_bytes

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {"table": folder / "comparison.csv", "scores": folder / "scores.csv", "figure": folder / "comparison.png"}
        self.table.to_csv(paths["table"], index_label="method")
        self.scores.to_csv(paths["scores"], index=False)
        paths["figure"].write_bytes(figure_to_png_bytes(self.figure, dpi))
        return paths

    def _repr_html_(self) -> str:
        from ..viz import figure_to_html

        shown = self.table.rename(columns={m: f"{m} {arrow(self.higher_is_better[m])}" for m in self.table.columns})
        notes = "".join(f"<p><i>note: {html.escape(note)}</i></p>" for note in self.notes)
        return (f"<div>{figure_to_html(self.figure, alt='comparison of methods', close=False)}"
                f"{shown.to_html(float_format=lambda v: f'{v:.4g}')}"
                f"<p>↑ higher is better, ↓ lower is better</p>{notes}</div>")

    def __repr__(self) -> str:
        return f"Comparison of {len(self.table.index)} methods on {len(self.table.columns)} metrics\n{self.to_text()}"


def _cell(value: float) -> str:
    return "nan" if not np.isfinite(value) else f"{value:.4g}"


def compare(model: Any, inputs: Any, methods: Sequence[Any], metrics: Sequence[Any] | None = None, target: Any = None,
            mask: Any = None, seed: int = 0, show_progress: bool = False, **context) -> Comparison:
    """Score every method on every metric, on the same inputs and targets.

    `methods`: registered names, (name, settings) pairs or Explainers bound to `model`. `metrics`:
    registered names or Metric instances (default: deletion, insertion, faithfulness
    correlation, max sensitivity, sparseness, and the localisation metrics when `mask` is given).
    `target`: as for any method (default: the predicted class of each input). `mask`: ground-truth
    regions for localisation metrics; other `context` (e.g. `random_model=`) goes to the metrics
    that take it. `seed` goes to every method and metric built here from a name that draws at
    random. `show_progress`: a bar over the (method, metric) pairs.

    >>> import torch
    >>> from torch import nn
    >>> net = nn.Linear(4, 2)
    >>> result = compare(net, torch.rand(3, 4), ["saliency", "input_x_gradient"], ["sparseness", "deletion"])
    >>> result.table.shape, result.higher_is_better
    ((2, 2), {'sparseness': True, 'deletion': False})
    """
    from tqdm.auto import tqdm

    if isinstance(methods, (str, Explainer)) or not methods:
        raise InputError("methods must be a non-empty list of method names, (name, settings) pairs or Explainers")
    adapter = adapt(model)
    context = {**context, **({"mask": mask} if mask is not None else {})}
    chosen, notes = _chosen_metrics(metrics, seed, context)
    explainers = [build_method(method, adapter, seed) for method in methods]
    method_labels = _unique([e.info.name for e in explainers], [_describe(e.settings()) for e in explainers])
    metric_labels = _unique([m.name for m in chosen], [_describe(m.settings()) for m in chosen])
    checked = chosen[0].check_inputs(adapter, inputs)
    resolved = chosen[0].resolve_target(adapter, checked, target)  # one target for every method and metric
    results: dict[tuple[str, str], MetricResult] = {}
    seconds: dict[str, float] = {}
    bar = tqdm(total=len(explainers) * len(chosen), desc="compare", unit="pair", disable=not show_progress)
    for method_label, explainer in zip(method_labels, explainers):
        started = time.perf_counter()
        scored = _score_method(adapter, checked, resolved, explainer, dict(zip(metric_labels, chosen)), context, bar, method_label)
        results.update({(method_label, metric_label): result for metric_label, result in scored.items()})
        seconds[method_label] = time.perf_counter() - started
    bar.close()
    table = pd.DataFrame([[results[m, k].summary for k in metric_labels] for m in method_labels],
                         index=pd.Index(method_labels, name="method"), columns=metric_labels)
    return Comparison(table=table, results=results,
                      higher_is_better={label: bool(m.higher_is_better) for label, m in zip(metric_labels, chosen)},
                      category={label: m.category for label, m in zip(metric_labels, chosen)}, notes=notes, seconds=seconds)


def _score_method(adapter, inputs, target, explainer: Explainer, metrics: dict[str, Metric], context: dict[str, Any],
                  bar, label: str) -> dict[str, MetricResult]:
    """Every metric's result for one method: its explanation computed once and shared."""
    explanation = None
    if any(metric.needs_explanation for metric in metrics.values()):
        bar.set_postfix_str(f"{label}: explaining")
        explanation = explainer.explain(inputs, target=resolved_indices(target))
    results = {}
    for metric_label, metric in metrics.items():
        bar.set_postfix_str(f"{label}: {metric_label}")
        given = {key: context[key] for key in required_context(metric)}
        results[metric_label] = metric.evaluate(adapter, inputs, target=target, method=explainer,
                                                explanation=explanation if metric.needs_explanation else None, **given)
        bar.update(1)
    return results


def _chosen_metrics(metrics: Sequence[Any] | None, seed: int, context: dict[str, Any]) -> tuple[list[Metric], list[str]]:
    """The metrics to run and notes on what was left out; asked-for metrics missing their context are an error."""
    notes = []
    if metrics is None:
        metrics = list(DEFAULT_METRICS)
        if "mask" in context:
            metrics += list(LOCALISATION_METRICS)
        else:
            notes.append(f"localisation metrics ({', '.join(LOCALISATION_METRICS)}) left out: they need mask=...")
    elif isinstance(metrics, (str, Metric)) or not metrics:
        raise InputError("metrics must be a non-empty list of metric names or Metric instances")
    chosen = [build_metric(metric, seed) for metric in metrics]
    unused = set(context) - {"mask"} - {key for metric in chosen for key in required_context(metric)}
    if unused:
        raise InputError(f"no chosen metric takes {', '.join(sorted(unused))}; metrics take mask=... (localisation) "
                         "and random_model=... (data_randomisation)")
    for metric in chosen:
        missing = [key for key in required_context(metric) if context.get(key) is None]
        if missing:
            raise InputError(f"{metric.name} needs {', '.join(f'{key}=...' for key in missing)}; give it to compare "
                             "or leave this metric out")
    return chosen, notes


def plot_comparison(comparison: Comparison):
    """Metrics as rows (name, arrow and 'higher/lower is better'), methods as columns; each cell
    coloured by the method's rank within its metric (the best darkest, whatever the direction)
    and labelled with the metric's summary value. Returns a matplotlib Figure (no pyplot).

    >>> import pandas as pd
    >>> table = pd.DataFrame({"deletion": [0.2, 0.5]}, index=["a", "b"])
    >>> figure = plot_comparison(Comparison(table, {}, {"deletion": False}, {"deletion": "faithfulness"}))
    >>> figure.axes[0].get_images()[0].get_array()[0].tolist()  # 1 = best (a: the lower deletion area)
    [1.0, 0.0]
    """
    from matplotlib import colormaps
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    table, ranks = comparison.table, comparison.ranks
    methods, metrics = list(table.index), list(table.columns)
    ranked = ranks.notna().sum()  # methods with a score, per metric
    goodness = np.array([[np.nan if np.isnan(ranks.at[method, m]) else 1.0 if ranked[m] <= 1
                          else (ranked[m] - ranks.at[method, m]) / (ranked[m] - 1)
                          for method in methods] for m in metrics], dtype=np.float64)  # 1 = best, 0 = worst, NaN: no score
    figure = Figure(figsize=(2.6 + 1.15 * len(methods), 1.3 + 0.62 * len(metrics)), layout="constrained")
    ax = figure.subplots()
    cmap = colormaps[BEST_COLOUR_MAP].with_extremes(bad="#dddddd")  # grey: no score
    ax.imshow(np.ma.masked_invalid(goodness), cmap=cmap, norm=Normalize(0.0, 1.0), aspect="auto")
    for row, metric in enumerate(metrics):
        for column, method in enumerate(methods):
            value = table.at[method, metric]
            dark = np.isfinite(goodness[row, column]) and goodness[row, column] > 0.6
            ax.text(column, row, _cell(value), ha="center", va="center", fontsize=8, color="white" if dark else "black")
    ax.set_xticks(range(len(methods)), methods, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(metrics)), [f"{m} {arrow(comparison.higher_is_better[m])}\n"
                                        f"{'higher' if comparison.higher_is_better[m] else 'lower'} is better" for m in metrics],
                  fontsize=8)
    ax.set_title("methods compared: colour = rank within each metric (darkest = best)", fontsize=9)
    if comparison.notes:
        from ..viz.grid import add_note

        add_note(figure, "; ".join(comparison.notes))
    return figure
