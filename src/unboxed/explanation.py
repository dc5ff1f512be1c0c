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
    ("image", "tabular" or "sequence"); `feature_names` names tabular features.
    """

    values: np.ndarray = None
    inputs: np.ndarray = None
    scores: np.ndarray | None = None
    target: list | str | None = None
    delta: np.ndarray | None = None
    layout: str = "tabular"
    feature_names: list[str] | None = None
    kind: ClassVar[str] = "attribution"

    def __post_init__(self):
        if self.values is None or self.inputs is None:
            raise InputError("an Attribution needs values and inputs")
        self.values = np.asarray(self.values)
        self.inputs = np.asarray(self.inputs)

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, rows) -> "Attribution":
        """The attribution of a subset of the samples."""
        rows = np.atleast_1d(np.arange(len(self))[rows])
        pick = lambda a: None if a is None else np.asarray(a)[rows]  # noqa: E731
        target = [self.target[i] for i in rows] if isinstance(self.target, list) else self.target
        return Attribution(
            provenance=self.provenance, values=self.values[rows], inputs=self.inputs[rows], scores=pick(self.scores),
            target=target, delta=pick(self.delta), layout=self.layout, feature_names=self.feature_names,
        )

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
