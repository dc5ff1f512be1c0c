"""Explanations as plain data: arrays, metadata and how they were made.

Every format of the taxonomy (attribution, rules, hidden semantics, examples, counterfactual,
causal) is an `Explanation` subclass that names its arrays and metadata fields; saving, loading,
provenance and notebook display are shared. Files are `.npz` holding only numeric arrays plus the
metadata as JSON text, and are read back with `allow_pickle=False`: loading never runs code.
"""
from __future__ import annotations

import functools
import json
import platform
import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .errors import InputError

_TYPES: dict[str, type["Explanation"]] = {}
_META_KEY = "__meta__"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if hasattr(value, "value") and type(value).__module__.startswith("unboxed"):
        return value.value
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


@functools.lru_cache(maxsize=1)
def _versions() -> dict[str, str]:
    import torch

    from . import __version__

    return {"unboxed": __version__, "torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version()}


def provenance(method: str, settings: dict, seed: int | None, model: dict) -> dict[str, Any]:
    """The record of how an explanation was made, enough to re-run it to the same numbers."""
    return {**_jsonable({"method": method, "settings": settings, "seed": seed, **model}), "versions": dict(_versions())}


@dataclass
class Explanation:
    """Base of every explanation type: `provenance` says how it was made.

    Subclasses are dataclasses whose numpy-array fields are saved as arrays and whose other
    fields are saved as JSON.
    """

    provenance: dict[str, Any] = field(default_factory=dict)
    kind: ClassVar[str] = "explanation"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _TYPES[cls.kind] = cls

    @property
    def method(self) -> str:
        return self.provenance.get("method", "?")

    def save(self, path: str | Path) -> Path:
        """Write the explanation to an `.npz` file (arrays + JSON metadata, no pickle); returns the path."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(path.suffix + ".npz") if path.suffix else path.with_suffix(".npz")
        arrays, meta = {}, {"kind": self.kind}
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, np.ndarray):
                arrays[item.name] = value
            else:
                meta[item.name] = _jsonable(value)
        text = json.dumps(meta)
        arrays[_META_KEY] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Explanation":
        """Read an explanation written by `save`. Only numeric arrays and JSON are read.

        >>> import numpy as np, tempfile, os
        >>> from unboxed.explanation import Attribution
        >>> saved = Attribution(values=np.ones((1, 3)), inputs=np.zeros((1, 3))).save(os.path.join(tempfile.mkdtemp(), "a"))
        >>> Explanation.load(saved).values.tolist()
        [[1.0, 1.0, 1.0]]
        """
        path = Path(path)
        if not path.exists():
            raise InputError(f"no explanation file at {path}")
        with np.load(path, allow_pickle=False) as archive:
            if _META_KEY not in archive:
                raise InputError(f"{path} is not an unboxed explanation file (no metadata)")
            meta = json.loads(archive[_META_KEY].tobytes().decode("utf-8"))
            arrays = {key: archive[key] for key in archive.files if key != _META_KEY}
        kind = meta.pop("kind")
        if kind not in _TYPES:
            raise InputError(f"{path} holds an explanation of unknown kind {kind!r}")
        target_cls = _TYPES[kind]
        if cls is not Explanation and not issubclass(target_cls, cls):
            raise InputError(f"{path} holds a {target_cls.__name__}, not a {cls.__name__}")
        return target_cls(**arrays, **meta)

    def _repr_html_(self) -> str:
        import html

        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(str(k))}</th><td>{html.escape(str(v))[:200]}</td></tr>"
            for k, v in self.summary().items()
        )
        return f"<div><b>{type(self).__name__}</b><table>{rows}</table>{self._figure_html()}</div>"

    def summary(self) -> dict[str, Any]:
        """Short facts about the explanation, shown in notebooks and reports."""
        settings = self.provenance.get("settings", {})
        return {"method": self.method, **{f"setting {k}": v for k, v in settings.items()}, "model": self.provenance.get("model_fingerprint")}

    def _figure_html(self) -> str:
        return ""


@dataclass
class Attribution(Explanation):
    """Relevance of every input feature for one target score per sample.

    `values` has the inputs' shape (n, ...) (or a layer's spatial shape for CAMs before
    upsampling); `inputs` are the explained inputs; `scores` the explained outputs f(x)_target;
    `target` the resolved target index per sample; `delta` an approximation error per sample
    when the method has one (Integrated Gradients' completeness gap); `layout` says how to draw it
    ("image", "tabular", "sequence" or "text"); `feature_names` names tabular features; `base` the
    score (n,) the attributions are measured from (f(baseline), or the expected score over a
    background), so that for complete methods `base + values.sum() == scores` per sample.
    """

    values: np.ndarray = None
    inputs: np.ndarray = None
    scores: np.ndarray | None = None
    target: list | str | None = None
    delta: np.ndarray | None = None
    layout: str = "tabular"
    feature_names: list[str] | None = None
    base: np.ndarray | None = None
    kind: ClassVar[str] = "attribution"

    def __post_init__(self):
        if self.values is None or self.inputs is None:
            raise InputError("an Attribution needs values and inputs")
        self.values = np.asarray(self.values)
        self.inputs = np.asarray(self.inputs)

    def __len__(self) -> int:
        return len(self.values)

    # Fields that hold one entry per sample, cut by __getitem__; subclasses add theirs.
    row_fields: ClassVar[tuple[str, ...]] = ("values", "inputs", "scores", "target", "delta", "base")

    def __getitem__(self, rows) -> "Attribution":
        """The attribution of a subset of the samples."""
        rows = np.atleast_1d(np.arange(len(self))[rows])
        cut = {}
        for name in self.row_fields:
            value = getattr(self, name)
            if isinstance(value, np.ndarray):
                cut[name] = value[rows]
            elif isinstance(value, list):
                cut[name] = [value[i] for i in rows]
        return dataclasses.replace(self, **cut)

    def input_values(self) -> np.ndarray:
        """Attributions with the inputs' shape (for overlays and the evaluation metrics)."""
        return self.values

    def summary(self) -> dict[str, Any]:
        facts = super().summary()
        facts.update({"samples": len(self), "shape": tuple(self.values.shape[1:]), "layout": self.layout})
        if self.delta is not None:
            facts["max |delta|"] = float(np.max(np.abs(self.delta)))
        return facts

    def plot(self, index: int = 0, ax=None, **kwargs):
        """Draw sample `index`: a heat-map overlay for images, a bar chart for tabular features."""
        from .viz import plot_attribution

        return plot_attribution(self, index=index, ax=ax, **kwargs)

    def _figure_html(self) -> str:
        from .viz import figure_to_html

        return figure_to_html(self.plot(0).figure)


@dataclass
class FeatureAttribution(Attribution):
    """Attribution to interpretable features: table columns (or groups of them), superpixels, words.

    `values` is (n, features); rows with fewer features than the widest (images with fewer
    superpixels, shorter texts) are padded with zeros past `counts[i]`. `base` is the explained
    score with every feature removed (the expected score over the background for Shapley values),
    so `base + values.sum(1) == scores` for methods that are efficient. `stderr` is a standard
    error per value for sampled estimates; `segments` (n, ...) maps every input element of a row
    to its feature (columns for tables, (H, W) pixels for images; None for text), and
    `feature_names` holds one list of names, or one per row (the words of each text). `surrogate`
    describes a fitted local model (LIME, LEMNA) with per-row lists (intercept, fidelity, ...).
    `masker` says how features were removed.
    """

    stderr: np.ndarray | None = None
    counts: np.ndarray | None = None
    segments: np.ndarray | None = None
    surrogate: dict[str, Any] | None = None
    masker: dict[str, Any] | None = None
    kind: ClassVar[str] = "feature_attribution"
    row_fields: ClassVar[tuple[str, ...]] = Attribution.row_fields + ("stderr", "counts", "segments")

    def __getitem__(self, rows) -> "FeatureAttribution":
        index = np.atleast_1d(np.arange(len(self))[rows])
        cut = super().__getitem__(rows)
        if self.feature_names and isinstance(self.feature_names[0], list):
            cut.feature_names = [self.feature_names[i] for i in index]
        if self.surrogate:
            cut.surrogate = {k: [v[i] for i in index] if isinstance(v, list) and len(v) == len(self) else v
                             for k, v in self.surrogate.items()}
        return cut

    def names_of(self, row: int) -> list[str]:
        """Names of the features of sample `row`."""
        count = int(self.counts[row]) if self.counts is not None else self.values.shape[1]
        names = self.feature_names
        if names and isinstance(names[0], list):
            return list(names[row])[:count]
        return list(names)[:count] if names else [f"feature {j}" for j in range(count)]

    def input_values(self) -> np.ndarray:
        """Each input element gets the value of the feature it belongs to (the inputs' shape).

        Text has no array form of its inputs: its values stay per word.
        """
        if self.segments is None:
            return self.values
        n = len(self)
        per_element = np.take_along_axis(self.values, self.segments.reshape(n, -1), axis=1).reshape(self.segments.shape)
        if per_element.ndim < self.inputs.ndim:  # image segments (n, H, W) for inputs (n, C, H, W)
            per_element = np.broadcast_to(per_element[:, None], self.inputs.shape)
        return np.array(per_element)  # a writable copy, never a read-only broadcast view

    def plot(self, index: int = 0, ax=None, kind: str | None = None, **kwargs):
        """Draw sample `index`; `kind`: "waterfall" (default for tables), "bar", "beeswarm" (all
        rows of a table), "superpixels" (default for images) or "text" (default for texts)."""
        from .viz.features import plot_feature_attribution

        return plot_feature_attribution(self, index=index, ax=ax, kind=kind, **kwargs)

    def _figure_html(self) -> str:
        if self.layout != "text":
            return super()._figure_html()
        from .viz.text import text_html

        return "".join(text_html(self, row) for row in range(min(len(self), 20)))


@dataclass
class FeatureImportance(Explanation):
    """How much a model relies on each feature over a whole data set (a global explanation).

    `repeats` (features, n_repeats) holds each repeat's drop of the score named `metric` when the
    feature is permuted across rows; `importances` is their mean and `stds` their standard
    deviation (computed from `repeats` when not given). `baseline` is the score on the intact
    data, `n_rows` the rows it is measured on, and `labels` what the score compares with: the
    "given" labels, or the model's own "predictions". 0 means shuffling the feature changes
    nothing; a negative value, that shuffling it helped (noise, or a feature the model misuses).

    >>> import numpy as np
    >>> result = FeatureImportance(repeats=np.array([[0.2, 0.4], [0.0, 0.0]]), feature_names=["a", "b"])
    >>> result.importances.round(3).tolist(), result.stds.round(3).tolist(), result.ranking()
    ([0.3, 0.0], [0.1, 0.0], ['a', 'b'])
    """

    repeats: np.ndarray = None
    importances: np.ndarray | None = None
    stds: np.ndarray | None = None
    feature_names: list[str] | None = None
    metric: str = "score"
    baseline: float | None = None
    n_rows: int | None = None
    labels: str | None = None
    kind: ClassVar[str] = "feature_importance"

    def __post_init__(self):
        if self.repeats is None:
            raise InputError("a FeatureImportance needs the per-repeat drops (features, repeats)")
        self.repeats = np.asarray(self.repeats, dtype=np.float64).reshape(len(self.repeats), -1)
        self.importances = self.repeats.mean(1) if self.importances is None else np.asarray(self.importances)
        self.stds = self.repeats.std(1) if self.stds is None else np.asarray(self.stds)
        if self.feature_names is None:
            self.feature_names = [f"feature {j}" for j in range(len(self.repeats))]

    def ranking(self, top_k: int | None = None) -> list[str]:
        """Feature names, most important first (ties keep the features' order)."""
        order = np.argsort(-self.importances, kind="stable")
        return [self.feature_names[j] for j in order[:top_k]]

    def summary(self) -> dict[str, Any]:
        facts = super().summary()
        facts.update({"features": len(self.importances), "metric": self.metric, "baseline score": self.baseline,
                      "rows": self.n_rows, "repeats": self.repeats.shape[1], "top features": ", ".join(self.ranking(5))})
        return facts

    def plot(self, ax=None, **kwargs):
        """Bars of the importances, largest on top, with one standard deviation as error bars."""
        from .viz.features import plot_importance

        return plot_importance(self, ax=ax, **kwargs)

    def _figure_html(self) -> str:
        from .viz import figure_to_html

        return figure_to_html(self.plot().figure)
